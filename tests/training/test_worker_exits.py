"""A worker as a batch scheduler starts it: --max-runs and --exit-when-idle end it normally (exit code 0)."""

import subprocess
import sys
from pathlib import Path

import pytest

from storage import Store
from tests.helpers import stepping_trainer, wait_for
from training.config import preset
from training.needs import Capabilities
from training.worker import parse_args, run_worker

STAND_IN = Capabilities(bitsandbytes=True, torch="stand-in")
"""What the stand-in trainer can train; saying so spares detecting it (importing torch)."""

ROOT = Path(__file__).resolve().parents[2]


def queue(store: Store, name: str = "r"):
    return store.create_run(name, preset("cpu-demo", max_steps=1).to_dict())


def worker_process(db_url: str, home: Path, *args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "tests.worker_entry", "--db", db_url, "--home", str(home), "--poll", "0.1", *args],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def test_max_runs_exits_after_that_many_runs_or_jobs_and_leaves_the_rest_queued(db_url, tmp_path):
    store = Store(db_url)
    runs = [queue(store, f"r{i}") for i in range(3)]
    worker = worker_process(db_url, tmp_path, "--max-runs", "2", "--exit-when-idle", "60", "--worker-id", "batch")
    output = worker.communicate(timeout=120)[0]
    assert worker.returncode == 0, output
    assert [store.get_run(run.id).status for run in runs] == ["succeeded", "succeeded", "queued"]
    assert "worker batch: exiting: ran 2 run(s) or job(s), all it was started for" in output
    assert store.live_workers(60) == []  # it removed itself: a probe of it now fails
    store.close()


def test_exit_when_idle_waits_for_work_runs_it_then_exits_once_idle_that_long(db_url, tmp_path):
    store = Store(db_url)
    worker = worker_process(db_url, tmp_path, "--exit-when-idle", "1", "--worker-id", "idler")
    try:
        wait_for(lambda: store.live_workers(60), 60, "the worker to start")
        run = queue(store)  # work arriving while it waits is claimed
        wait_for(lambda: store.get_run(run.id).status == "succeeded", 60, "the run to finish")
        output = worker.communicate(timeout=60)[0]
    finally:
        worker.kill()
    assert worker.returncode == 0, output
    assert "worker idler: running run" in output and "worker idler: exiting: nothing to claim for 1 s" in output
    store.close()


def test_the_rules_of_once_and_until_idle_are_unchanged(store, tmp_path):
    first, second = queue(store, "first"), queue(store, "second")
    assert run_worker(store, stepping_trainer(), tmp_path, once=True, capabilities=STAND_IN) == 1
    assert [store.get_run(r.id).status for r in (first, second)] == ["succeeded", "queued"]
    assert run_worker(store, stepping_trainer(), tmp_path, until_idle=True, max_runs=5, capabilities=STAND_IN) == 1
    assert run_worker(store, stepping_trainer(), tmp_path, once=True, capabilities=STAND_IN) == 0  # nothing queued


def test_contradictory_rules_are_refused_before_the_worker_records_itself(store, tmp_path):
    with pytest.raises(ValueError, match="--once runs one run or job"):
        run_worker(store, stepping_trainer(), tmp_path, worker_id="w", once=True, max_runs=3, capabilities=STAND_IN)
    assert store.live_workers(60) == []


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--max-runs", "0"], "argument --max-runs: give a whole number >= 1 (runs or jobs before the worker exits)"),
        (["--max-runs", "two"], "argument --max-runs: give a whole number >= 1"),
        (["--exit-when-idle", "-5"], "argument --exit-when-idle: give a number of seconds >= 0 (leave the flag out"),
        (["--exit-when-idle", "inf"], "argument --exit-when-idle: give a number of seconds >= 0"),
        (["--once", "--max-runs", "2"], "give --max-runs 1 --exit-when-idle SECONDS instead"),
        (["--once", "--exit-when-idle", "60"], "--once runs one run or job and exits when none is queued"),
        (["--until-idle", "--exit-when-idle", "60"], "--until-idle is --exit-when-idle 0: give one of them"),
        (["--once", "--until-idle"], "give one of --once and --until-idle"),
    ],
)
def test_bad_exit_flags_are_refused_naming_the_flag_and_the_fix(flags, message, capsys):
    with pytest.raises(SystemExit) as exited:
        parse_args(["--db", "sqlite://", *flags])
    assert exited.value.code == 2
    assert message in capsys.readouterr().err


def test_the_batch_flags_combine(tmp_path):
    rules = parse_args(["--db", "sqlite://", "--max-runs", "20", "--exit-when-idle", "600"]).exit_rules
    assert (rules.max_runs, rules.idle_s) == (20, 600.0)
    assert parse_args(["--db", "sqlite://", "--until-idle", "--max-runs", "3"]).exit_rules.idle_s == 0.0
