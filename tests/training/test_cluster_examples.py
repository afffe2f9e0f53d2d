"""The scheduler examples in training/cluster/ (README, "Cluster schedulers") say what the worker accepts: their
worker command lines parse with the worker's own parser, their probes run its health command, and their secrets come
from the environment, never from the files or a command line."""

import os
import re
import shlex
import stat
import subprocess
from pathlib import Path

import pytest
import yaml

from training.worker import parse_args
from training.worker_health import WORKER_ID_ENV
from training.worker_health import parse_args as parse_health_args

ROOT = Path(__file__).resolve().parents[2]
CLUSTER = ROOT / "training" / "cluster"
SBATCH, JOB = CLUSTER / "worker.sbatch", CLUSTER / "worker-job.yaml"
WORKER = ["-m", "training.worker"]
SECRET_ENV = re.compile(r"NOVER_UI_DB|AWS_.*|.*(PASSWORD|SECRET|TOKEN|KEY).*")


@pytest.fixture
def database_from_env(monkeypatch):
    """The URL the scheduler hands the worker in its environment (a Secret, the submitting shell)."""
    monkeypatch.setenv("NOVER_UI_DB", "postgresql+psycopg://nover@db/nover")


def test_the_job_manifest_runs_workers_that_end_normally_with_secrets_from_a_secret(database_from_env):
    job = yaml.safe_load(JOB.read_text())
    assert (job["apiVersion"], job["kind"]) == ("batch/v1", "Job")
    assert job["spec"]["parallelism"] > 1 and "completions" not in job["spec"]  # a work queue
    pod = job["spec"]["template"]["spec"]
    assert pod["restartPolicy"] in ("OnFailure", "Never")
    [container] = pod["containers"]
    assert container["image"] and container["command"] == ["python", *WORKER]
    args = parse_args(container["args"])
    assert (args.exit_rules.max_runs, args.exit_rules.idle_s) == (20, 600.0)
    assert args.interrupted == "resume" and not any(arg.startswith("--db") for arg in container["args"])
    env = {variable["name"]: variable for variable in container["env"]}
    for name, variable in env.items():
        if SECRET_ENV.fullmatch(name):
            assert "value" not in variable and variable["valueFrom"]["secretKeyRef"]["name"], name
    assert env[WORKER_ID_ENV]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name"
    assert {mount["mountPath"] for mount in container["volumeMounts"]} == {str(args.home)}


@pytest.mark.parametrize("probe", ["startupProbe", "readinessProbe", "livenessProbe"])
def test_each_probe_runs_the_health_command_for_this_pods_worker(probe, database_from_env, monkeypatch):
    [container] = yaml.safe_load(JOB.read_text())["spec"]["template"]["spec"]["containers"]
    command = container[probe]["exec"]["command"]
    assert command[:4] == ["python", *WORKER, "health"]
    monkeypatch.setenv(WORKER_ID_ENV, "nover-workers-x7k2p")  # what the manifest's fieldRef gives each pod
    health = parse_health_args(command[4:])
    assert health.worker_id == "nover-workers-x7k2p" and health.max_age > 0
    assert container[probe]["timeoutSeconds"] >= 5  # the default 1 s is less than importing the worker takes


def sbatch_options(script: str) -> dict[str, str]:
    options = {}
    for line in script.splitlines():
        if line.startswith("#SBATCH "):
            name, _, value = line.removeprefix("#SBATCH ").partition("=")
            options[name] = value
    return options


def test_the_sbatch_script_starts_one_worker_per_node_that_exits_when_idle(database_from_env):
    script = SBATCH.read_text()
    options = sbatch_options(script)
    assert options["--ntasks-per-node"] == "1" and options["--signal"].startswith("TERM@")
    # The worker command: a bash array, its comments the places left for the flags of the other points of issue 17.
    body = re.search(r"^worker=\((.*?)^\)", script, re.MULTILINE | re.DOTALL)
    assert body is not None
    words = shlex.split(body[1], comments=True)
    assert words[1:3] == WORKER
    args = parse_args(words[3:])
    assert args.exit_rules.idle_s == 600.0 and args.interrupted == "resume"
    assert "--db" not in words and not re.search(r"://[^:/@\s]+:[^@\s]+@", script.replace("user:password@", ""))
    assert re.search(r'^srun --ntasks-per-node=1 "\$\{worker\[@\]\}"$', script, re.MULTILINE)


def test_bash_runs_the_sbatch_script_into_the_worker_command(tmp_path, database_from_env):
    """Real bash runs the script with a stand-in `srun` (no Slurm here) that writes down what it was asked to run, and
    the database URL its tasks get."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    srun = bin_dir / "srun"
    srun.write_text(
        f'#!/bin/bash\nprintf "%s\\n" "$@" > {tmp_path / "argv"}\necho "$NOVER_UI_DB" > {tmp_path / "db"}\n'
    )
    srun.chmod(srun.stat().st_mode | stat.S_IXUSR)
    env = {
        "PATH": f"{bin_dir}:{os.environ['PATH']}",
        "HOME": str(tmp_path),
        "SLURM_SUBMIT_DIR": str(ROOT),
        "NOVER_UI_ENV_FILE": str(tmp_path / "env"),
    }
    (tmp_path / "env").write_text("NOVER_UI_DB=postgresql+psycopg://nover:pw@db/nover\n")
    subprocess.run(["bash", str(SBATCH)], env=env, check=True, capture_output=True, text=True, timeout=30)
    srun_args = (tmp_path / "argv").read_text().splitlines()
    assert srun_args[:2] == ["--ntasks-per-node=1", ".venv/bin/python"] and srun_args[2:4] == WORKER
    assert str(parse_args(srun_args[4:]).home) == f"{tmp_path}/nover_ui"
    url = "postgresql+psycopg://nover:pw@db/nover"
    assert (tmp_path / "db").read_text().strip() == url and url not in srun_args  # through the environment

    del env["NOVER_UI_ENV_FILE"]
    refused = subprocess.run(["bash", str(SBATCH)], env=env, capture_output=True, text=True, timeout=30)
    assert refused.returncode != 0 and "set NOVER_UI_DB (the database URL)" in refused.stderr


def test_the_readme_shows_both_examples():
    readme = (ROOT / "README.md").read_text()
    for path in (SBATCH, JOB):
        assert str(path.relative_to(ROOT)) in readme
