"""API endpoints that read runs: the list, one run's metric series, rollouts and alerts. No login (reading is
public); many at once, each changed run read once for every reader (api_values.shared)."""

from __future__ import annotations

import gradio as gr

from nover_ui.api_values import READERS_AT_ONCE, number, plain, reading, shared
from nover_ui.context import Dashboard
from nover_ui.safe_text import api_error
from nover_ui.shared_reads import READS, Runs, shared_runs


def register_read_endpoints(dashboard: Dashboard) -> None:
    """Add the endpoints to the Blocks being built (call inside `with gr.Blocks()`)."""
    store = dashboard.store

    def runs() -> Runs:
        return reading(shared_runs, store)

    def run_version(run_id: int) -> object:
        """The run's version in the shared runs list; a clear refusal for an id that is not there."""
        version = runs().run_version(run_id)
        if version is None:
            raise api_error(f"run {run_id} does not exist")
        return version

    def list_runs() -> list[dict]:
        """Every run, newest first."""
        listed = runs()
        return READS.get(("api runs", store.url), listed.version, lambda: [plain(run) for run in listed.records])

    def get_metrics(run_id: int, keys: list[str] | None = None) -> dict:
        """Metric series of a run: {key: {"steps": [...], "values": [...], "wall_times": [...]}}."""
        run, chosen = int(run_id), tuple(keys) if keys else None

        def read() -> dict:
            series = reading(store.get_metrics, run, chosen)
            return {
                key: {
                    "steps": list(s.steps),
                    "values": [number(v) for v in s.values],
                    "wall_times": list(s.wall_times),
                }
                for key, s in series.items()
            }

        return shared(("api metrics", store.url, run, chosen), run_version(run), read)

    def get_rollouts(run_id: int, step: int | None = None) -> list[dict]:
        """Rollouts of one step (the latest when step is None), with every reward component."""
        run, chosen = int(run_id), None if step is None else int(step)

        def read() -> list[dict]:
            steps = reading(store.rollout_steps, run) if chosen is None else (chosen, chosen)
            if steps is None:
                return []
            return [plain(rollout) for rollout in reading(store.get_rollouts, run, steps[1])]

        return shared(("api rollouts", store.url, run, chosen), run_version(run), read)

    def get_alerts(run_id: int) -> list[dict]:
        """The run's alerts (a watched metric that collapsed or stalled), oldest first, each with its evidence
        (steps, values) and message, as the Runs tab shows them."""
        run = int(run_id)

        def read() -> list[dict]:
            return [plain(alert) for alert in reading(store.list_alerts, [run]).get(run, [])]

        # runs_version counts alerts and their last steps: a new or grown alert moves it.
        return shared(("api alerts", store.url, run), (runs().version, run_version(run)), read)

    for endpoint in (list_runs, get_metrics, get_rollouts, get_alerts):
        gr.api(endpoint, api_name=endpoint.__name__, concurrency_limit=READERS_AT_ONCE)
