import os
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

import app
from nover_ui.supervisor import HEALTHY_AFTER_S, restart_delay
from storage import Store
from tests.helpers import free_port, wait_for

ROOT = Path(__file__).resolve().parent.parent


def test_settings_come_from_flags_then_environment_then_defaults(tmp_path):
    defaults = app.parse_settings([], env={})
    assert (defaults.host, defaults.port, defaults.workers) == ("127.0.0.1", 7860, 1)
    assert defaults.home == Path(".nover_ui").resolve()
    assert defaults.db == f"sqlite:///{Path('.nover_ui').resolve() / 'nover_ui.db'}"
    env = {"NOVER_UI_HOME": str(tmp_path), "NOVER_UI_PORT": "9000", "NOVER_UI_WORKERS": "0"}
    from_env = app.parse_settings([], env=env)
    assert (from_env.home, from_env.port, from_env.workers) == (tmp_path, 9000, 0)
    flags = app.parse_settings(["--port", "9100", "--db", "sqlite:///x.db"], env=env)
    assert (flags.port, flags.db) == (9100, "sqlite:///x.db")


def test_in_the_image_data_lives_under_the_persistent_dir_or_a_warned_temporary_one(tmp_path):
    persistent = tmp_path / "data"
    persistent.mkdir()
    on_space = app.parse_settings([], env={"NOVER_UI_PERSISTENT_DIR": str(persistent)})
    assert on_space.home == persistent / "nover_ui" and on_space.notices == ()
    without = app.parse_settings([], env={"NOVER_UI_PERSISTENT_DIR": str(tmp_path / "absent")})
    assert without.home.name == "nover_ui" and not without.home.is_relative_to(tmp_path)
    [warning] = without.notices
    assert "Nothing persists" in warning and str(tmp_path / "absent") in warning and "persistent storage" in warning
    chosen = app.parse_settings(["--home", str(tmp_path / "mine")], env={"NOVER_UI_PERSISTENT_DIR": "/absent"})
    assert chosen.home == tmp_path / "mine" and chosen.notices == ()


def test_access_settings(capsys, tmp_path):
    plain = app.parse_settings([], env={}).access()
    assert not plain.needs_login and not plain.read_only
    guarded = app.parse_settings([], env={"NOVER_UI_AUTH": "alice:a b,bob:c"}).access()
    assert guarded.needs_login and dict(guarded.passwords) == {"alice": "a b", "bob": "c"}
    space = {"SPACE_ID": "me/nover", "OAUTH_CLIENT_ID": "x", "SPACE_AUTHOR_NAME": "me"}
    assert app.parse_settings([], env=space).access().hf_users == ("me",)
    assert app.parse_settings(["--hf-users", "me, you"], env=space).hf_users == ("me", "you")
    assert app.parse_settings([], env={"SPACE_ID": "me/nover"}).hf_users is None  # no hf_oauth: no sign-in
    demo = app.parse_settings(["--demo"], env={"SPACE_ID": "me/nover"})
    assert demo.access().read_only and "duplicate this Space" in demo.access().read_only_message
    assert "https://huggingface.co/spaces/me/nover?duplicate=true" in demo.notices[0]
    assert (plain.trusted_proxies, plain.sessions.ttl_s, plain.public_host) == (0, 12 * 3600, None)
    on_space = app.parse_settings(
        ["--login-hours", "2", "--data-dir", str(tmp_path)],
        env={"SPACE_ID": "me/nover", "SPACE_HOST": "me-nover.hf.space"},
    )
    assert (on_space.trusted_proxies, on_space.embedded, on_space.data_dirs) == (1, True, (tmp_path,))
    assert (on_space.access().sessions.ttl_s, on_space.access().public_host) == (7200, "me-nover.hf.space")
    with pytest.raises(SystemExit):
        app.parse_settings(["--data-dir", str(tmp_path / "absent")], env={})
    assert "not a folder" in capsys.readouterr().err
    limits = app.parse_settings(["--max-upload-mb", "2", "--max-upload-rows", "10"], env={}).upload_limits
    assert (limits.max_bytes, limits.max_rows) == (2 * 2**20, 10)
    with pytest.raises(SystemExit):
        app.parse_settings(["--auth", "alice"], env={})
    assert "'alice' has no password" in capsys.readouterr().err


def test_negative_worker_count_is_refused(capsys):
    with pytest.raises(SystemExit):
        app.parse_settings(["--workers", "-1"], env={})
    assert "--workers must be >= 0, got -1" in capsys.readouterr().err


def test_the_worker_command_runs_the_worker_module_without_a_shell(tmp_path):
    settings = app.parse_settings(["--home", str(tmp_path)], env={})
    command = app.worker_command(settings)
    assert command[:3] == [sys.executable, "-m", "training.worker"]
    # The database URL may hold a password: the workers get it in their environment, never on the command line.
    assert "--db" not in command and settings.db not in command
    assert app.worker_env(settings, base={})["NOVER_UI_DB"] == settings.db


def test_supervisor_restarts_a_dead_worker_and_stops_all_on_exit():
    # Real backoff limits: a dead worker comes back after the first delay (5 s).
    supervisor = app.WorkerSupervisor(
        [sys.executable, "-c", "import time; time.sleep(600)"], count=2, check_interval_s=0.05
    )
    supervisor.start()
    try:
        first, second = supervisor.pids
        os.kill(first, signal.SIGKILL)
        wait_for(lambda: supervisor.restarts == 1, 60, "the killed worker to be restarted")
        replacement, still = supervisor.pids
        assert replacement != first and still == second
    finally:
        supervisor.stop(grace_s=5)
    for pid in supervisor.pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)  # reaped: no such process


def test_a_worker_that_keeps_dying_is_restarted_ever_more_slowly():
    delays, previous = [], None
    for _ in range(6):  # each replacement dies 3 s after it starts
        previous = restart_delay(previous, lived_s=3.0)
        delays.append(previous)
    assert delays == [5.0, 15.0, 45.0, 135.0, 300.0, 300.0]  # 3 restarts in the first 100 s, then 12 an hour
    # A death after a minute is no sign of health (it was: its replacement came after 1 s, a crash loop).
    assert restart_delay(45.0, lived_s=61.0) == 135.0
    assert restart_delay(300.0, lived_s=HEALTHY_AFTER_S) == 5.0


def test_a_database_that_cannot_be_opened_fails_at_start_up(tmp_path):
    result = subprocess.run(
        [
            sys.executable,
            "app.py",
            "--workers",
            "0",
            "--home",
            str(tmp_path),
            "--db",
            f"sqlite:///{tmp_path / 'missing' / 'x.db'}",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "cannot open database" in result.stderr and "unable to open database file" in result.stderr


def serving(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


@pytest.mark.slow
def test_app_serves_the_dashboard_runs_a_worker_and_restarts_it(tmp_path):
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "app.py", "--workers", "1", "--port", str(port), "--home", str(tmp_path)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        wait_for(lambda: serving(port), 90, "the dashboard to answer")
        store = Store(f"sqlite:///{tmp_path / 'nover_ui.db'}")
        # A config the worker refuses: proves a worker claims runs without waiting for a trainer.
        first = store.create_run("bad config", {"num_generations": 1})
        wait_for(lambda: store.get_run(first.id).status == "failed", 60, "the worker to take the run")
        worker_pid = int(store.get_run(first.id).worker_id.rsplit(":", 1)[1])
        os.kill(worker_pid, signal.SIGKILL)
        second = store.create_run("bad config again", {"num_generations": 1})
        wait_for(lambda: store.get_run(second.id).status == "failed", 60, "a restarted worker to take a run")
        replacement_pid = int(store.get_run(second.id).worker_id.rsplit(":", 1)[1])
        assert replacement_pid != worker_pid
    finally:
        proc.send_signal(signal.SIGINT)
        output, _ = proc.communicate(timeout=60)
    assert "restarting it" in output
    with pytest.raises(ProcessLookupError):
        os.kill(replacement_pid, 0)  # the app stopped its worker on the way out
