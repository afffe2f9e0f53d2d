"""A run's machine settings: their checks, the accelerate command they give, the argv each machine launches (read
back by accelerate's own parser), the worker's flags, and why machine rank 0 fails a run."""

import datetime as dt
import shlex

import pytest
from accelerate.commands.launch import _validate_launch_command, launch_command_parser

from storage import MachineRecord
from training.commands import run_command
from training.config import ConfigError, RunConfig, preset
from training.launch import MachinePlace, launch_argv, launch_env
from training.machines import MachineFlags, machines_problem
from training.worker import parse_args

SECRET_URL = "postgresql+psycopg://nover:s3cret-pass@db.internal:5432/nover"


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"num_machines": 0}, "num_machines", "num_machines must be >= 1 (1 trains on one machine), got 0"),
        ({"main_process_port": -1}, "main_process_port", "main_process_port must be a port from 1 to 65535, or 0"),
        ({"main_process_port": 70000}, "main_process_port", "got 70000"),
        ({"machine_join_timeout": 0.0}, "machine_join_timeout", "machine_join_timeout must be > 0 seconds"),
        (
            {"num_machines": 3, "num_processes": 2, "num_generations": 4},
            "prompts_per_step",
            "must divide evenly over num_processes x num_machines x gradient_accumulation_steps (2 x 3 x 1)",
        ),
        (
            {"num_machines": 2, "generation": "vllm", "vllm_mode": "server", "device": "cuda"},
            "num_machines",
            "num_machines 2 with vllm_mode server",
        ),
    ],
)
def test_machine_settings_are_checked_naming_the_field_the_value_and_the_fix(changes, field, message):
    with pytest.raises(ConfigError) as refused:
        RunConfig(**changes)
    assert refused.value.field == field
    assert message in str(refused.value)


def test_num_processes_counts_each_machine_and_accelerate_counts_them_all():
    config = preset("cpu-demo", num_processes=2, num_machines=2, num_generations=4, max_prompts=1)
    assert config.world_size == 4
    command = run_command(config)
    assert command.startswith(
        "accelerate launch --config_file training/accelerate/ddp.yaml --num_processes 4 --num_machines 2 "
        "-m training.run "
    )
    # One process on each of two machines is still a launched run; one machine never names --num_machines.
    assert run_command(config.replace(num_processes=1)).startswith("accelerate launch --config_file ")
    assert "--num_machines" not in run_command(config.replace(num_machines=1))


def test_each_machine_launches_the_recorded_command_with_its_place_and_no_database_url(tmp_path):
    config = preset("cpu-demo", num_processes=2, num_machines=2, num_generations=4, distributed="zero2")
    argv = launch_argv(config, 7, tmp_path, machine=MachinePlace(1, "10.0.0.5", 29511))
    assert SECRET_URL not in " ".join(argv) and "--db" not in argv
    assert launch_env(SECRET_URL) == {"NOVER_UI_DB": SECRET_URL}
    # DeepSpeed is not installed here: its command line is checked as accelerate would read it.
    assert shlex.join(argv[3:9]).endswith("training/accelerate/deepspeed_zero2.yaml --num_processes 4 --num_machines 2")
    args = launch_command_parser().parse_args(argv[3:])
    assert (args.num_processes, args.num_machines, args.machine_rank) == (4, 2, 1)
    assert (args.main_process_ip, args.main_process_port) == ("10.0.0.5", 29511)
    assert (args.module, args.training_script) == (True, "training.run")
    assert args.training_script_args[-6:] == ["--run-id", "7", "--home", str(tmp_path), "--interrupted", "fail"]


def test_accelerate_takes_the_flags_over_the_config_file_and_the_file_for_the_rest(tmp_path):
    """accelerate 1.15 fills in from the config file only what the command line left unset (its private
    _validate_launch_command, which `accelerate launch` runs first), as training/accelerate/*.yaml say."""
    several = preset("cpu-demo", num_processes=2, num_machines=2, num_generations=4)
    argv = launch_argv(several, 7, tmp_path, machine=MachinePlace(1, "10.0.0.5", 29511))
    args, _, _ = _validate_launch_command(launch_command_parser().parse_args(argv[3:]))
    assert (args.num_processes, args.num_machines, args.machine_rank) == (4, 2, 1)  # the file says 1 machine, rank 0
    assert (args.main_process_ip, args.main_process_port, args.rdzv_backend) == ("10.0.0.5", 29511, "static")
    one = launch_argv(several.replace(num_machines=1), 7, tmp_path)
    args, _, _ = _validate_launch_command(launch_command_parser().parse_args(one[3:]))
    assert (args.num_machines, args.machine_rank, args.main_process_port) == (1, 0, 0)  # the file's: any free port


def test_the_worker_flags_say_which_machine_role_it_takes(capsys):
    args = parse_args(["--db", "sqlite://", "--machine-rank", "1", "--main-process-ip", "10.0.0.6"])
    flags = MachineFlags(args.machine_rank, args.main_process_ip)
    several, one = RunConfig(num_machines=2), RunConfig()
    assert (flags.starts(several), flags.starts(one), flags.joins()) == (False, True, True)
    assert (MachineFlags(0).starts(several), MachineFlags(0).joins()) == (True, False)
    assert (MachineFlags().starts(several), MachineFlags().joins()) == (True, True)
    for bad, message in (
        (["--machine-rank", "-1"], "--machine-rank must be 0 (start runs over several machines) or above"),
        (["--main-process-ip", "http://a b"], "--main-process-ip takes a bare address or host name"),
    ):
        with pytest.raises(SystemExit):
            parse_args(["--db", "sqlite://", *bad])
        assert message in capsys.readouterr().err


NOW = dt.datetime(2026, 1, 1, 12, 0, tzinfo=dt.UTC)


def machine(rank: int, silent_s: float = 0, exit_code: int | None = None) -> MachineRecord:
    beat = NOW - dt.timedelta(seconds=silent_s)
    ended = None if exit_code is None else NOW
    return MachineRecord(1, rank, f"w{rank}", f"host{rank}", None, None, beat, beat, ended, exit_code)


def test_rank_0_fails_a_run_naming_the_machine_that_never_joined_went_silent_or_failed():
    assert machines_problem([machine(0)], 3, 60, 59, NOW) is None  # still within the time to join
    assert machines_problem([machine(0), machine(2)], 3, 60, 61, NOW) == (
        "machine rank 1 never joined within machine_join_timeout 60 s (joined: rank 0 on host0; rank 2 on host2); "
        "start a worker on another machine with the same database, or lower num_machines"
    )
    assert machines_problem([machine(0), machine(1, silent_s=90)], 2, 60, 500, NOW) == (
        "machine rank 1 on host1 stopped responding (no heartbeat for 90 s, machine_join_timeout 60)"
    )
    assert machines_problem([machine(0), machine(1, exit_code=137)], 2, 60, 5, NOW) == (
        "machine rank 1 on host1 dropped out: its processes exited with code 137"
    )
    assert machines_problem([machine(0, silent_s=999), machine(1, exit_code=0)], 2, 60, 500, NOW) is None
