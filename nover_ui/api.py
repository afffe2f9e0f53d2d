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
from nover_ui.shared_reads import READS, shared_runs
from nover_ui.work_limits import BULK_READS, FILE_WORK, Busy
from storage import StorageError
from training.config import ConfigError
from training.data import DataError

MAX_LOGIN_CHARS = 256
READERS_AT_ONCE = 32
"""Polls of the read endpoints served at once. A poll of unchanged data is a lookup in the shared reads, so
readers need not wait in line for each other (Gradio's default is one at a time per endpoint); a changed run is
read once for all of them, holding a BULK_READS slot."""


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
        runs = _reading(shared_runs, store)
        return READS.get(("api runs", store.url), runs.version, lambda: [_plain(run) for run in runs.records])

    def cancel_run(run_id: int, request: gr.Request) -> dict:
        """Cancel a queued run, or ask a running one to stop after its current step."""
        access.gate(request, "cancel runs")
        try:
            return _plain(cancel_checked_run(store, int(run_id)))
        except (ActionRefused, StorageError) as exc:
            raise api_error(str(exc)) from None

    def get_metrics(run_id: int, keys: list[str] | None = None) -> dict:
        """Metric series of a run: {key: {"steps": [...], "values": [...], "wall_times": [...]}}."""
        run, chosen = int(run_id), tuple(keys) if keys else None

        def read() -> dict:
            series = _reading(store.get_metrics, run, chosen)
            return {
                key: {
                    "steps": list(s.steps),
                    "values": [_number(v) for v in s.values],
                    "wall_times": list(s.wall_times),
                }
                for key, s in series.items()
            }

        key = ("api metrics", store.url, run, chosen)
        return _shared(key, _reading(shared_runs, store).run_version(run), read)

    def get_rollouts(run_id: int, step: int | None = None) -> list[dict]:
        """Rollouts of one step (the latest when step is None), with every reward component."""
        run, chosen = int(run_id), None if step is None else int(step)

        def read() -> list[dict]:
            steps = _reading(store.rollout_steps, run) if chosen is None else (chosen, chosen)
            if steps is None:
                return []
            return [_plain(rollout) for rollout in _reading(store.get_rollouts, run, steps[1])]

        key = ("api rollouts", store.url, run, chosen)
        return _shared(key, _reading(shared_runs, store).run_version(run), read)

    for endpoint in (login, queue_run, cancel_run):
        gr.api(endpoint, api_name=endpoint.__name__)
    for endpoint in (list_runs, get_metrics, get_rollouts):
        gr.api(endpoint, api_name=endpoint.__name__, concurrency_limit=READERS_AT_ONCE)


def _shared(key: tuple, version: Any, read: Any) -> Any:
    """`read()` once per (key, version) for every reader; the one read holds a BULK_READS slot, the readers
    who find it done or wait for it hold none."""

    def limited_read() -> Any:
        try:
            with BULK_READS.slot():
                return read()
        except Busy as exc:
            raise api_error(str(exc)) from None

    return READS.get(key, version, limited_read)


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
