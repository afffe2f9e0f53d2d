import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from training.commands import ACCELERATE_CONFIGS, build_config, command_line, parse_assignment, run_command
from training.config import PRESETS, ConfigError, RunConfig, preset
from training.run import main

ROOT = Path(__file__).resolve().parents[2]


def test_assignments_read_json_values_and_fall_back_to_text():
    assert parse_assignment("max_steps=5") == ("max_steps", 5)
    assert parse_assignment("learning_rate=1e-5") == ("learning_rate", 1e-5)
    assert parse_assignment("format_example=true") == ("format_example", True)
    assert parse_assignment("dataset=data/my file.csv") == ("dataset", "data/my file.csv")
    with pytest.raises(ConfigError, match="key=value"):
        parse_assignment("max_steps")


def test_preset_then_file_then_assignments(tmp_path):
    file = tmp_path / "run.json"
    file.write_text(preset("cpu-demo", max_steps=7, seed=3).to_json())
    config = build_config("paper", file, ["seed=9"])
    assert (config.max_steps, config.seed, config.model) == (7, 9, RunConfig().model)
    with pytest.raises(ConfigError, match="num_generations must be >= 2"):
        build_config("cpu-demo", None, ["num_generations=1"])


@pytest.mark.parametrize("name", ["cpu-demo", "paper", "inverse"])
def test_the_printed_command_reproduces_the_config(name):
    config = preset(name, dataset="/data/my questions.csv")
    words = shlex.split(command_line(config))
    assert words[:3] == ["python", "-m", "training.run"]
    assignments = [words[i + 1] for i, word in enumerate(words) if word == "--set"]
    assert build_config(None, None, assignments) == config


@pytest.mark.parametrize("name", ["econ mcq.csv", "it's $(rm -rf ~) `x` #1.csv", "two\nlines; echo pwned.csv"])
def test_an_uploaded_files_name_is_a_comment_and_the_line_stays_runnable(name):
    config = preset("cpu-demo", dataset="/home/u/uploads/3f9a.csv", dataset_name=name)
    line = command_line(config)
    assert line.endswith(f"  # data: {' '.join(name.splitlines())}")
    # bash runs the line as written, with printf standing in for python: the comment is no argument, and the
    # words are the ones that rebuild the config.
    shown = subprocess.run(
        ["bash", "-c", line.replace("python -m training.run", "printf '%s\\0'", 1)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split("\0")[:-1]
    assert shown == shlex.split(line, comments=True)[3:]
    assert build_config(None, None, shown[1::2]) == config


def test_the_multi_gpu_command_uses_accelerate_launch_with_the_config_file_of_the_run():
    line = command_line(preset("paper", num_processes=4), launcher="accelerate")
    assert line.startswith(
        "accelerate launch --config_file training/accelerate/ddp.yaml --num_processes 4 -m training.run "
    )
    assert "--set num_processes=4" in line
    zero2 = run_command(preset("paper", num_processes=2, distributed="zero2"))
    assert zero2.startswith(
        "accelerate launch --config_file training/accelerate/deepspeed_zero2.yaml --num_processes 2 -m training.run "
    )
    for path in ACCELERATE_CONFIGS.values():
        assert (ROOT / path).is_file()


def test_a_worker_runs_one_process_with_python_and_several_with_accelerate():
    assert run_command(preset("cpu-demo")).startswith("python -m training.run --set ")
    assert run_command(preset("cpu-demo", num_processes=2)).startswith("accelerate launch ")
    resumed = shlex.split(run_command(preset("cpu-demo"), resume_from=Path("/runs/3/checkpoint 8")))
    assert resumed[-2:] == ["--resume-from", "/runs/3/checkpoint 8"]


def test_text_that_reads_as_json_is_written_so_it_stays_text():
    config = preset(
        "cpu-demo", dataset_split="2024", prompt_column="true", reference_column="null", split_column='{"a"'
    )
    words = shlex.split(command_line(config))
    assert build_config(None, None, [words[i + 1] for i, w in enumerate(words) if w == "--set"]) == config


def test_a_config_for_several_processes_is_refused_in_one_with_the_command_to_use(capsys):
    with pytest.raises(SystemExit):
        main(["--preset", "cpu-demo", "--set", "num_processes=2"])
    assert (
        "num_processes is 2 but 1 process(es) started; run\n  accelerate launch --config_file "
        "training/accelerate/ddp.yaml --num_processes 2"
    ) in capsys.readouterr().err


def queue_command(*args: str) -> subprocess.CompletedProcess:
    """`python -m training.run --queue` run as a person runs it (a subprocess: the real exit status and streams)."""
    command = [sys.executable, "-m", "training.run", "--queue", *args]
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=120, check=False)


def test_queue_puts_a_checked_run_on_the_worker_queue_and_refuses_a_bad_config(store, db_url, capsys):
    queued = queue_command("--db", db_url, "--preset", "cpu-demo", "--set", "max_steps=3", "--name", "q")
    assert queued.returncode == 0, queued.stderr
    (listed,) = store.list_runs()
    assert (int(queued.stdout), listed.name, listed.status, listed.config["max_steps"]) == (listed.id, "q", "queued", 3)
    # The preset with the --set over it, every field filled in, as the dashboard stores a config.
    assert listed.config == RunConfig.from_dict({**PRESETS["cpu-demo"], "max_steps": 3}).to_dict()

    # The refusals in this process (the same main(); no second interpreter to start).
    with pytest.raises(SystemExit) as exited:
        main(["--queue", "--db", db_url, "--set", "num_generations=1"])
    assert exited.value.code == 2 and "num_generations must be >= 2" in capsys.readouterr().err
    assert main(["--queue", "--db", db_url, "--set", "dataset=/no/such/file.csv"]) == 2
    assert "not queued: data file not found: /no/such/file.csv" in capsys.readouterr().err
    assert len(store.list_runs()) == 1
