"""API endpoints of experiments: queue one from a grid as the Train tab's experiment form does (recipes x swept
values x seeds over a config), list them, and read one with its runs."""

from __future__ import annotations

import gradio as gr

from nover_ui.api_values import READERS_AT_ONCE, plain, reading, refused_as_api_error
from nover_ui.context import Dashboard
from nover_ui.experiment_grid import SWEEP_INPUTS
from nover_ui.queue import queue_experiment_grid
from nover_ui.safe_text import api_error
from nover_ui.work_limits import FILE_WORK


def register_experiment_endpoints(dashboard: Dashboard) -> None:
    """Add the endpoints to the Blocks being built (call inside `with gr.Blocks()`)."""
    store, access = dashboard.store, dashboard.access

    @FILE_WORK
    def queue_experiment(
        config: dict,
        name: str,
        request: gr.Request,
        recipes: list[str] | None = None,
        sweeps: dict[str, str] | None = None,
        seeds: int = 1,
    ) -> dict:
        """Queue the experiment `name` over `config` (RunConfig fields; missing ones take their defaults; eval_steps
        must be > 0): each recipe in `recipes` (none: the config's reward) x each value of up to two `sweeps`
        ({field: "1e-5, 3e-5"}, as typed in the form) x `seeds` seeds. Every run is checked first; a refusal names
        the field and queues none. Returns the experiment with its run ids."""
        access.gate(request, "queue experiments")
        chosen = list((sweeps or {}).items())
        if len(chosen) > len(SWEEP_INPUTS):
            raise api_error(f"sweeps: at most {len(SWEEP_INPUTS)} fields, got {len(chosen)}; drop one")
        # Each sweep as the form's text box holds it; a JSON list of values is written out as that comma list.
        typed = [
            (field, ", ".join(map(str, values)) if isinstance(values, list) else str(values))
            for field, values in chosen
        ]
        with refused_as_api_error():
            experiment = queue_experiment_grid(
                store,
                config,
                name,
                list(recipes or []),
                typed,
                seeds,
                dashboard.places,
                dashboard.limits,
                dashboard.max_experiment_runs,
            )
        return plain(experiment)

    def list_experiments() -> list[dict]:
        """Every experiment, newest first: id, name, settings (recipes, sweeps, seeds, shared values), run ids."""
        return [plain(experiment) for experiment in reading(store.list_experiments)]

    def get_experiment(experiment_id: int) -> dict:
        """One experiment with its runs (status, step, config of each)."""
        experiment = reading(store.get_experiment, int(experiment_id))
        runs = reading(store.experiment_runs, int(experiment_id))
        return {**plain(experiment), "runs": [plain(run) for run in runs]}

    # The same group and limit as the Train tab's "Queue experiment" button.
    gr.api(queue_experiment, api_name="queue_experiment", concurrency_limit=1, concurrency_id="queue-experiment")
    for endpoint in (list_experiments, get_experiment):
        gr.api(endpoint, api_name=endpoint.__name__, concurrency_limit=READERS_AT_ONCE)
