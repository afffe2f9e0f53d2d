"""The operator's alert webhook against a real HTTP server on 127.0.0.1: one JSON post per new alert, marked notified
once taken; a server that answers 500 or never answers leaves the run's steps unaffected and the alert unnotified.
And the URL's way in: app.py's flag or environment variable, on to the workers' environment, never their argv."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

import app
from storage import Store
from training import worker
from training.alert_notify import WEBHOOK_ENV, AlertSettings
from training.alert_watch import run_rules
from training.config import RunConfig
from training.execute import RunAlerts

KL_SPIKE = [0.0, 0.002, 0.004, 0.006, 0.4, 0.5, 0.6]
"""A kl spike from step 5 on: one alert, new at step 5, extended at 6 and 7."""
DEADLINE_S = 60.0


class Hook:
    """A webhook on 127.0.0.1 that answers `status`, or holds every request until `release` is set."""

    def __init__(self, status: int | None):
        self.bodies: list[dict] = []
        self.received = threading.Event()
        self.release = threading.Event()
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                hook.bodies.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
                hook.received.set()
                if status is None:
                    hook.release.wait(DEADLINE_S)  # never answers within the client's timeout
                    return
                self.send_response(status)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def hook(request) -> Iterator[Hook]:
    served = Hook(request.param)
    yield served
    served.close()


def spike(store: Store, settings: AlertSettings) -> tuple[int, RunAlerts]:
    run = store.start_run(store.create_run("spiky <run>", {}).id, "w")
    alerts = RunAlerts(run, run_rules(RunConfig()), settings)
    for step, value in enumerate(KL_SPIKE, start=1):
        store.log_metrics(run.id, step, {"kl": value})
        alerts.check(store, step)
    return run.id, alerts


@pytest.mark.parametrize("hook", [200], indirect=True)
def test_a_new_alert_is_posted_once_as_json_and_marked_notified(store: Store, hook: Hook):
    run_id, alerts = spike(store, AlertSettings(hook.url, "https://nover.example/"))
    alerts.close()  # waits for the queued posts
    (alert,) = store.list_alerts([run_id])[run_id]
    assert alert.steps == (5, 6, 7) and alert.notified_at is not None
    assert hook.bodies == [  # once, though the alert was extended twice after
        {
            "run_id": run_id,
            "run_name": "spiky <run>",
            "rule": "kl_spike",
            "metric": "kl",
            "steps": [5],
            "values": [0.4],
            "message": hook.bodies[0]["message"],
            "link": f"https://nover.example/?tab=runs&run={run_id}",
        }
    ]
    assert hook.bodies[0]["message"].startswith("kl was 0.4 at step 5")


@pytest.mark.parametrize("hook", [500, None], indirect=True)
def test_a_failing_or_silent_webhook_leaves_the_run_s_steps_unaffected_and_the_alert_unnotified(
    store: Store, hook: Hook, capfd
):
    run_id, alerts = spike(store, AlertSettings(hook.url, None, timeout_s=1.0))
    # Every step was written and checked while the webhook had not answered (a silent one holds its request
    # until released): the posts run off the training thread.
    assert store.get_metrics(run_id, ["kl"])["kl"].steps[-1] == len(KL_SPIKE)
    assert store.list_alerts([run_id])[run_id][0].steps == (5, 6, 7)
    assert hook.received.wait(DEADLINE_S)
    assert alerts.close(DEADLINE_S)  # tried, failed, given up
    assert store.list_alerts([run_id])[run_id][0].notified_at is None
    assert len(hook.bodies) == 1 and hook.bodies[0]["link"] is None
    assert "alert webhook failed" in capfd.readouterr().err


def test_the_webhook_flag_or_variable_reaches_the_workers_in_their_environment_not_their_argv(tmp_path):
    url = "https://hooks.example/T0/secret"
    settings = app.parse_settings(["--home", str(tmp_path)], env={WEBHOOK_ENV: url, "SPACE_HOST": "me-nover.hf.space"})
    assert settings.alerts == AlertSettings(url, "https://me-nover.hf.space")
    assert url not in " ".join(app.worker_command(settings))
    env = app.worker_env(settings, base={"PATH": "/bin", WEBHOOK_ENV: "https://old.example/"})
    assert env[WEBHOOK_ENV] == url and env["PATH"] == "/bin"
    flagged = app.parse_settings(["--home", str(tmp_path), "--alert-webhook", "http://127.0.0.1:9/x"], env={})
    assert flagged.alerts.webhook_url == "http://127.0.0.1:9/x"
    assert WEBHOOK_ENV not in app.worker_env(app.parse_settings(["--home", str(tmp_path)], env={}), base={})
    # The worker reads what the app put in its environment, or its own flag.
    monkey_env = {WEBHOOK_ENV: url}
    args = _worker_args(["--db", "sqlite:///x.db"], monkey_env)
    assert args.alert_webhook == url


@pytest.mark.parametrize("bad", ["ftp://hooks.example/x", "file:///etc/passwd", "hooks.example/x"])
def test_a_webhook_that_is_not_http_is_refused_at_start_up(bad, tmp_path, capsys):
    with pytest.raises(SystemExit):
        app.parse_settings(["--home", str(tmp_path), "--alert-webhook", bad], env={})
    assert "--alert-webhook" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        worker.parse_args(["--db", "sqlite:///x.db", "--alert-webhook", bad])


def _worker_args(argv: list[str], env: dict[str, str]):
    """training.worker's arguments as read under `env` (its defaults come from os.environ)."""
    with pytest.MonkeyPatch.context() as patch:
        for key, value in env.items():
            patch.setenv(key, value)
        return worker.parse_args(argv)
