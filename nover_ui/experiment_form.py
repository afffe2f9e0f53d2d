"""The Train tab's "Experiment" accordion: recipes x swept values x seeds over the form's config, queued as one
named experiment (nover_ui/experiment_grid.py builds the grid, nover_ui/queue.py checks and queues it).

Handlers first (plain values in, {component: update} out), then the builder, which app.py calls under the Train
form. The grid's size and time estimate follow its inputs; queueing checks the login and every run as one run is
checked, and a refusal shows under the form field or experiment input it concerns and queues nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import gradio as gr

from nover_ui.access import AccessDenied
from nover_ui.config_form import values_to_config
from nover_ui.context import Dashboard
from nover_ui.events import bind
from nover_ui.experiment_grid import INPUTS, NAME, RECIPES_INPUT, SEEDS, SWEEP_INPUTS, SWEEPABLE, Grid, build_grid
from nover_ui.field_errors import info_text
from nover_ui.queue import queue_experiment_grid
from nover_ui.run_estimate import duration_text, step_estimate
from nover_ui.safe_text import markdown_text
from nover_ui.train_cost import timed_here
from nover_ui.train_form import TrainTab, field_messages
from nover_ui.train_tab import COST_FIELDS
from nover_ui.work_limits import FILE_WORK
from storage import StorageError
from training.config import ConfigError, RunConfig
from training.data import DataError
from training.recipe_presets import RECIPES

SIZE_READS_AT_ONCE = 2
"""Size lines computed at once (each validates up to the cap's configs and reads the timed runs)."""
NO_SWEEP = ""
"""The sweep field choice that sweeps nothing."""
HELP = {
    NAME: "Names the experiment; each run's name adds what differs (recipe, swept values, seed).",
    RECIPES_INPUT: "Each applies its reward settings over the form's (none: the form's reward as it is).",
    SWEEP_INPUTS[0]: "Values of the field, separated by commas (e.g. 1e-5, 3e-5); each run takes one.",
    SWEEP_INPUTS[1]: "A second field's values: the grid takes every pair of the two sweeps' values.",
    SEEDS: "Runs of each setting with seeds seed, seed+1, ... (the form's seed first), for a confidence interval.",
}


@dataclass(frozen=True)
class ExperimentForm:
    name_tb: gr.Textbox
    recipes_cbg: gr.CheckboxGroup
    sweep_dds: tuple[gr.Dropdown, gr.Dropdown]
    sweep_tbs: tuple[gr.Textbox, gr.Textbox]
    seeds_nb: gr.Number
    size_md: gr.Markdown
    """The grid's size and time estimate, or why it cannot be queued."""
    queue_btn: gr.Button
    status_md: gr.Markdown

    @property
    def inputs(self) -> list[gr.components.Component]:
        """In the order the handlers take them: name, recipes, (field, values) twice, seeds."""
        (field_1, field_2), (values_1, values_2) = self.sweep_dds, self.sweep_tbs
        return [self.name_tb, self.recipes_cbg, field_1, values_1, field_2, values_2, self.seeds_nb]

    @property
    def by_input(self) -> dict[str, gr.components.Component]:
        """The component that shows each experiment input's error (a sweep's under its values)."""
        return dict(zip(INPUTS, [self.name_tb, self.recipes_cbg, *self.sweep_tbs, self.seeds_nb]))


# ---- handlers: plain values in, {component: update} out ---------------------------------------------------


def describe_grid(
    name: str,
    recipes: list[str] | None,
    field_1: str | None,
    values_1: str,
    field_2: str | None,
    values_2: str,
    seeds: float | None,
    *values: Any,
    dashboard: Dashboard,
    form: ExperimentForm,
) -> dict[Any, Any]:
    """The size line: how many runs, and how long one worker takes to train them one after another."""
    sweeps = [(field_1 or NO_SWEEP, values_1 or ""), (field_2 or NO_SWEEP, values_2 or "")]
    try:
        grid = build_grid(
            values_to_config(list(values)),
            name or "experiment",
            recipes or [],
            sweeps,
            seeds,
            dashboard.max_experiment_runs,
        )
    except ConfigError as exc:
        where = f" ({markdown_text(exc.field)})" if exc.field else ""
        return {form.size_md: f"Grid: not queueable yet{where}: {markdown_text(str(exc))}"}
    return {form.size_md: grid_text(grid, dashboard)}


def grid_text(grid: Grid, dashboard: Dashboard) -> str:
    """'**4 runs** (...): about 20 min of training for one worker running them one after another (...)'."""
    timed = timed_here(dashboard)
    seconds, unknown = 0.0, 0
    for _, config in grid.runs:
        run = RunConfig.from_dict(config)
        estimate = step_estimate(run, timed)
        if estimate is None:
            unknown += 1
        else:
            seconds += estimate[0] * run.max_steps
    shape = " x ".join(_axes(grid))
    line = f"**{len(grid.runs)} run(s)** ({shape}; cap {dashboard.max_experiment_runs})"
    if unknown == len(grid.runs):
        return f"{line}: time unknown, no run of this model has been timed here yet."
    known = "" if not unknown else f" for the {len(grid.runs) - unknown} run(s) whose model was timed here"
    return (
        f"{line}: about {duration_text(seconds)} of training{known} for one worker running them one after another "
        "(several workers share them out), plus the held-out evaluations."
    )


@FILE_WORK
def queue_grid(
    request: gr.Request | None,
    name: str,
    recipes: list[str] | None,
    field_1: str | None,
    values_1: str,
    field_2: str | None,
    values_2: str,
    seeds: float | None,
    *values: Any,
    dashboard: Dashboard,
    form: ExperimentForm,
    tab: TrainTab,
) -> dict[Any, Any]:
    # The request comes first: Gradio passes it only to parameters before *values.
    try:
        dashboard.access.require_write(request, "queue experiments")
    except AccessDenied as exc:
        return _refused(form, tab, str(exc), None)
    sweeps = [(field_1 or NO_SWEEP, values_1 or ""), (field_2 or NO_SWEEP, values_2 or "")]
    try:
        experiment = queue_experiment_grid(
            dashboard.store,
            values_to_config(list(values)),
            name,
            recipes or [],
            sweeps,
            seeds,
            dashboard.places,
            dashboard.limits,
            dashboard.max_experiment_runs,
        )
    except ConfigError as exc:
        return _refused(form, tab, str(exc), exc.field)
    except DataError as exc:
        return _refused(form, tab, str(exc), "dataset")
    except StorageError as exc:
        return _refused(form, tab, str(exc), None)
    message = (
        f"Queued experiment **#{experiment.id}** ({markdown_text(experiment.name)}): runs "
        f"{', '.join(f'#{run_id}' for run_id in experiment.run_ids)}; filter the Runs tab by it to follow them."
    )
    return {form.status_md: message, **_messages(form, tab, None, "")}


def _refused(form: ExperimentForm, tab: TrainTab, message: str, field: str | None) -> dict[Any, Any]:
    return {form.status_md: f"**Not queued:** {markdown_text(message)}", **_messages(form, tab, field, message)}


def _messages(form: ExperimentForm, tab: TrainTab, field: str | None, message: str) -> dict[Any, Any]:
    """The error under the form field or experiment input it concerns; every other one shows its help."""
    updates = field_messages(tab, {field: message} if field in tab.widgets else {})
    for key, component in form.by_input.items():
        failed = key == field
        shown = f"⚠ {info_text(message)}" if failed else info_text(HELP[key])
        updates[component] = gr.update(info=shown, elem_classes=["field-error"] if failed else [])
    return updates


def _axes(grid: Grid) -> list[str]:
    settings = grid.settings
    axes = [f"{len(settings['recipes'])} recipes"] if settings["recipes"] else []
    axes += [f"{len(sweep['values'])} {sweep['field']} values" for sweep in settings["sweeps"]]
    return [*axes, f"{len(settings['seeds'])} seed(s)"]


# ---- the builder --------------------------------------------------------------------------------------------


def build_experiment(dashboard: Dashboard, tab: TrainTab) -> ExperimentForm:
    """The accordion under the Train form; its grid is the form's config with each run's changes applied."""
    with gr.Accordion("Experiment: compare recipes, values and seeds", open=False, elem_id="experiment-form"):
        with gr.Row(equal_height=False):
            name_tb = gr.Textbox(label="Experiment name", info=info_text(HELP[NAME]), elem_id="experiment-name")
            recipes_cbg = gr.CheckboxGroup(
                list(RECIPES), label="Recipes", info=info_text(HELP[RECIPES_INPUT]), elem_id="experiment-recipes"
            )
            seeds_nb = gr.Number(
                1, label="Seeds", precision=0, minimum=1, info=info_text(HELP[SEEDS]), elem_id="experiment-seeds"
            )
        sweep_dds, sweep_tbs = [], []
        for i, key in enumerate(SWEEP_INPUTS, start=1):
            with gr.Row(equal_height=False):
                sweep_dds.append(
                    gr.Dropdown(
                        [NO_SWEEP, *SWEEPABLE], value=NO_SWEEP, label=f"Sweep {i}: field", elem_id=f"sweep-{i}-field"
                    )
                )
                sweep_tbs.append(
                    gr.Textbox(label=f"Sweep {i}: values", info=info_text(HELP[key]), elem_id=f"sweep-{i}-values")
                )
        size_md = gr.Markdown(elem_id="experiment-size")
        queue_btn = gr.Button(
            "Queue experiment",
            variant="primary",
            interactive=not dashboard.access.read_only,
            elem_id="queue-experiment",
        )
        status_md = gr.Markdown(elem_id="experiment-status")
    form = ExperimentForm(
        name_tb=name_tb,
        recipes_cbg=recipes_cbg,
        sweep_dds=(sweep_dds[0], sweep_dds[1]),
        sweep_tbs=(sweep_tbs[0], sweep_tbs[1]),
        seeds_nb=seeds_nb,
        size_md=size_md,
        queue_btn=queue_btn,
        status_md=status_md,
    )
    _wire(form, tab, dashboard)
    return form


def _wire(form: ExperimentForm, tab: TrainTab, dashboard: Dashboard) -> None:
    inputs = [*form.inputs, *tab.field_inputs]
    triggers = [component.change for component in form.inputs]
    # The form fields the size line depends on: those of the cost line, and the two an experiment checks itself.
    triggers += [tab.widgets[name].change for name in (*COST_FIELDS, "eval_steps", "seed")]
    gr.on(
        triggers,
        bind(describe_grid, dashboard=dashboard, form=form),
        inputs,
        [form.size_md],
        show_progress="hidden",
        trigger_mode="always_last",
        concurrency_limit=SIZE_READS_AT_ONCE,
        concurrency_id="experiment-size",
    )
    queued = [form.status_md, *form.by_input.values(), *tab.field_inputs]
    form.queue_btn.click(
        bind(queue_grid, dashboard=dashboard, form=form, tab=tab),
        inputs,
        queued,
        concurrency_limit=1,
        concurrency_id="queue-experiment",
    )
