"""The dashboard's actions as API endpoints for `gradio_client` (see README.md, "Scripting the dashboard").

Each endpoint returns plain JSON values; a refusal raises gr.Error, which the client raises as an AppError
carrying the same message a person sees in the UI.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
from typing import Any

import gradio as gr

from nover_ui.access import AccessDenied
from nover_ui.context import Dashboard
from nover_ui.queue import queue_run as queue_checked_run
from nover_ui.run_actions import ActionRefused
from nover_ui.run_actions import cancel_run as cancel_checked_run
from nover_ui.safe_text import api_error
from nover_ui.work_limits import BULK_READS, FILE_WORK
from storage import StorageError
from training.config import ConfigError
from training.data import DataError

MAX_LOGIN_CHARS = 256


def register_api(dashboard: Dashboard) -> None:
    """Add the endpoints to the Blocks being built (call inside `with gr.Blocks()`)."""
    store, access = dashboard.store, dashboard.access

    def login(username: str, password: str, request: gr.Request) -> dict:
        """Check a login (when the dashboard asks for one); returns {"user", "token", "expires_at"}. Send the
        token in the X-Nover-Token header of later calls (Client(url, headers={...})) to write."""
        if max(len(username), len(password)) > MAX_LOGIN_CHARS:
            raise api_error(f"user and password have at most {MAX_LOGIN_CHARS} characters")
        try:
            granted = access.login(request, username.strip(), password)
        except AccessDenied as exc:
            raise api_error(str(exc)) from None
        return {"user": granted.user, "token": granted.token, "expires_at": granted.expires_at}

    @FILE_WORK
    def queue_run(config: dict, request: gr.Request, name: str = "api run") -> dict:
        """Validate `config` (RunConfig fields; missing ones take their defaults) and queue it; returns the run."""
        access.gate(request, "queue runs")
        try:
            return _plain(queue_checked_run(store, name, config, dashboard.places, dashboard.limits))
        except (ConfigError, DataError, StorageError) as exc:
            raise api_error(str(exc)) from None

    def list_runs() -> list[dict]:
        """Every run, newest first."""
        return [_plain(run) for run in _reading(store.list_runs)]

    def cancel_run(run_id: int, request: gr.Request) -> dict:
        """Cancel a queued run, or ask a running one to stop after its current step."""
        access.gate(request, "cancel runs")
        try:
            return _plain(cancel_checked_run(store, int(run_id)))
        except (ActionRefused, StorageError) as exc:
            raise api_error(str(exc)) from None

    @BULK_READS
    def get_metrics(run_id: int, keys: list[str] | None = None) -> dict:
        """Metric series of a run: {key: {"steps": [...], "values": [...], "wall_times": [...]}}."""
        series = _reading(store.get_metrics, int(run_id), keys or None)
        return {
            key: {"steps": list(s.steps), "values": [_number(v) for v in s.values], "wall_times": list(s.wall_times)}
            for key, s in series.items()
        }

    @BULK_READS
    def get_rollouts(run_id: int, step: int | None = None) -> list[dict]:
        """Rollouts of one step (the latest when step is None), with every reward component."""
        if step is None:
            steps = _reading(store.rollout_steps, int(run_id))
            if steps is None:
                return []
            step = steps[1]
        return [_plain(rollout) for rollout in _reading(store.get_rollouts, int(run_id), int(step))]

    for endpoint in (login, queue_run, list_runs, cancel_run, get_metrics, get_rollouts):
        gr.api(endpoint, api_name=endpoint.__name__)


def _reading(read: Any, *args: Any) -> Any:
    try:
        return read(*args)
    except StorageError as exc:
        raise api_error(str(exc)) from None


def _plain(record: Any) -> dict:
    """A frozen record as JSON values: times as ISO strings, NaN/inf as None (JSON has neither)."""
    return {
        key: _number(value)
        if isinstance(value, float)
        else value.isoformat()
        if isinstance(value, dt.datetime)
        else value
        for key, value in dataclasses.asdict(record).items()
    }


def _number(value: float) -> float | None:
    return value if math.isfinite(value) else None
