"""The Runs tab: every run with its status, phase and progress, redrawn when the runs change, and its actions.

A timer reads the runs' version (Store.runs_version, one small query) into a State; the table listens to that
State's change, so an idle dashboard re-reads no run and a click on a row is never lost to a redraw. Between
redraws the ETAs count down and the selected row is highlighted in the browser alone (runs_clock.py); the filter
box redraws the table when a person types. The buttons are enabled only where their action applies to the
selected run (run_actions.allowed_actions), the write buttons never on a read-only dashboard.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import gradio as gr

from nover_ui.access import AccessDenied
from nover_ui.alert_view import evidence_html
from nover_ui.context import Dashboard
from nover_ui.events import TRAIN, bind, open_tab
from nover_ui.format_guidance import judged_by_tags, no_signal_banner
from nover_ui.machines_note import machines_note
from nover_ui.run_actions import (
    ActionRefused,
    ArtifactsLeft,
    allowed_actions,
    cancel_run,
    clone_config,
    delete_run,
    export_archive,
    resume_run,
)
from nover_ui.run_filters import ALL, RunFilters, build_run_filters, choice_updates, narrowed
from nover_ui.run_import_view import RunImport, build_run_import
from nover_ui.run_notes import RunNotes, build_run_notes
from nover_ui.runs_clock import RUNS_CLOCK_JS, RUNS_CSS, clock_value
from nover_ui.runs_table import COLUMN_WIDTHS, RUN_COLUMNS, runs_view, shared_runs_data
from nover_ui.safe_text import markdown_text, refusal
from nover_ui.shared_reads import shared_runs
from nover_ui.train_form import TrainTab, form_values
from nover_ui.work_limits import BULK_READS
from storage import StorageError, Store

REFRESH_S = 2.0
"""How often the table's version is read; the table itself redraws only when the version moved."""
SELECT_FIRST = "Select a run first (click its row)."


@dataclass(frozen=True)
class RunsTab:
    read_only: bool
    filter_tb: gr.Textbox
    filters: RunFilters
    """By experiment, tag and status, next to the filter box (run_filters.py)."""
    runs_df: gr.Dataframe
    clock_html: gr.HTML
    """Hidden: the seconds left of each running run, which its script counts down (runs_clock.py)."""
    version_state: gr.State
    """Store.runs_version as last seen by this page: the table redraws only when it moves."""
    run_nb: gr.Number
    """The selected run; a redraw leaves it as it is."""
    banner_md: gr.Markdown
    """Shown when the selected run has no format-valid rollout (format_guidance.py)."""
    cancel_btn: gr.Button
    resume_btn: gr.Button
    clone_btn: gr.Button
    delete_btn: gr.Button
    export_btn: gr.Button
    confirm_row: gr.Row
    confirm_md: gr.Markdown
    confirm_btn: gr.Button
    keep_btn: gr.Button
    action_md: gr.Markdown
    export_file: gr.File
    error_tb: gr.Textbox
    command_code: gr.Code
    server_log_tb: gr.Textbox
    """The last lines of the selected run's vLLM server (server mode), shown when it kept some."""
    alerts_html: gr.HTML
    """The evidence of each alert of the selected run (alert_view.py), shown when it has any."""
    refresh_timer: gr.Timer
    notes: RunNotes | None = None
    """The selected run's name, tags and notes (run_notes.py), set once the tab is built."""
    run_import: RunImport | None = None
    """The "Import" accordion (run_import_view.py), set once the tab is built."""


# ---- handlers: plain values in, {component: update} out ---------------------------------------------------


def poll_version(*, store: Store, tab: RunsTab) -> dict[Any, Any]:
    try:
        return {tab.version_state: store.runs_version()}
    except StorageError:
        return {tab.version_state: gr.skip()}  # a busy database: try again on the next tick


def redraw(
    run_id: float | None,
    text: str | None,
    experiment: str | None = ALL,
    tag: str | None = ALL,
    status: str | None = ALL,
    *,
    store: Store,
    tab: RunsTab,
) -> dict[Any, Any]:
    """The table as filtered by `text` and the filters, the filters' choices, and the selected run's details
    (error, command, banner, which buttons apply), which may have changed since it was clicked."""
    table = filter_table(text, experiment, tag, status, store=store, tab=tab)
    offered = choice_updates(tab.filters, shared_runs_data(store), experiment, tag)
    return {**table, **offered, **_run_details(store, tab, int(run_id) if run_id else None)}


def filter_table(
    text: str | None,
    experiment: str | None = ALL,
    tag: str | None = ALL,
    status: str | None = ALL,
    *,
    store: Store,
    tab: RunsTab,
) -> dict[Any, Any]:
    """The runs of the chosen experiment, tag and status whose name, status (with its phase), dataset, model,
    experiment or tags contain `text`, with their ETAs."""
    view = runs_view(narrowed(shared_runs_data(store), experiment, tag, status), text or "")
    return {tab.runs_df: view.frame, tab.clock_html: clock_value(view.eta_s)}


def select_row(evt: gr.SelectData, *, store: Store, tab: RunsTab) -> dict[Any, Any]:
    """A click on any cell of a row selects that row's run (the row's own id, whatever the table's order)."""
    run_id = int(evt.row_value[0])
    return {tab.run_nb: run_id, **_run_details(store, tab, run_id)}


def act_on_run(
    run_id: float | None,
    request: gr.Request | None,
    *,
    action: Callable[[Store, int], Any],
    done: str,
    what: str,
    dashboard: Dashboard,
    tab: RunsTab,
) -> dict[Any, Any]:
    """Run `action` on the selected run when the asker may `what`; the line under the buttons says what came of
    it and the version moves on, which redraws the table."""
    message = _act(dashboard, run_id, request, action, done, what)
    return {tab.action_md: message, **poll_version(store=dashboard.store, tab=tab)}


def ask_delete(run_id: float | None, *, tab: RunsTab) -> dict[Any, Any]:
    if not run_id:
        return {tab.confirm_row: gr.update(visible=False), tab.confirm_md: "", tab.action_md: SELECT_FIRST}
    question = (
        f"Delete run **#{int(run_id)}** with all its metrics, rollouts and evaluations, and its checkpoint folders?"
    )
    return {tab.confirm_row: gr.update(visible=True), tab.confirm_md: question, tab.action_md: ""}


def close_confirmation(*, tab: RunsTab) -> dict[Any, Any]:
    return {tab.confirm_row: gr.update(visible=False)}


@BULK_READS
def export(run_id: float | None, *, dashboard: Dashboard, tab: RunsTab) -> dict[Any, Any]:
    if not run_id:
        raise refusal(SELECT_FIRST)
    try:
        archive = export_archive(dashboard.store, int(run_id), dashboard.downloads)
    except ActionRefused as exc:
        raise refusal(str(exc)) from None
    return {tab.export_file: gr.update(value=str(archive), visible=True)}


def clone(run_id: float | None, *, store: Store, train: TrainTab, tabs: gr.Tabs) -> dict[Any, Any]:
    """The run's name and config into the Train form, and the Train tab opened."""
    if not run_id:
        raise refusal(SELECT_FIRST)
    try:
        name, config = clone_config(store, int(run_id))
    except ActionRefused as exc:
        raise refusal(str(exc)) from None
    return {train.name_tb: name, **form_values(train, config), tabs: open_tab(TRAIN)}


# ---- the builder --------------------------------------------------------------------------------------------


def build_runs(dashboard: Dashboard, train: TrainTab, tabs: gr.Tabs) -> RunsTab:
    """`train` and `tabs` let "Clone" fill the Train form and switch to it; deleting a run removes its folders
    under HOME/runs."""
    access = dashboard.access
    with gr.Row(equal_height=True):
        filter_tb = gr.Textbox(
            placeholder="Filter: part of a name, dataset, model, status, experiment or tag",
            show_label=False,
            container=False,
            max_lines=1,
            scale=3,
            elem_id="runs-filter",
        )
        filters = build_run_filters()
    runs_df = gr.Dataframe(
        headers=RUN_COLUMNS,
        datatype="str",
        interactive=False,
        label="Runs (click a row to select it)",
        wrap=True,
        column_widths=COLUMN_WIDTHS,
        elem_id="runs-table",
    )
    clock_html = gr.HTML(
        "{}", html_template="", js_on_load=RUNS_CLOCK_JS, head=f"<style>{RUNS_CSS}</style>", visible="hidden"
    )
    with gr.Row(equal_height=False):
        # Set by a click on a row only, so the buttons and details always belong to the run it shows.
        run_nb = gr.Number(
            label="Selected run #", value=None, precision=0, interactive=False, scale=1, elem_id="selected-run"
        )
        # Disabled until a run is selected; then each as its action applies (_run_details).
        cancel_btn = gr.Button("Cancel", interactive=False, size="md", scale=1, elem_id="cancel-run")
        resume_btn = gr.Button(
            "Resume from last checkpoint", interactive=False, size="md", scale=2, elem_id="resume-run"
        )
        clone_btn = gr.Button("Clone into Train form", interactive=False, size="md", scale=2, elem_id="clone-run")
        delete_btn = gr.Button("Delete…", variant="stop", interactive=False, size="md", scale=1, elem_id="delete-run")
        export_btn = gr.Button("Export (zip)", interactive=False, size="md", scale=1, elem_id="export-run")
    with gr.Row(visible=False) as confirm_row:
        confirm_md = gr.Markdown()
        confirm_btn = gr.Button("Yes, delete it", variant="stop")
        keep_btn = gr.Button("Keep it")
    tab = RunsTab(
        read_only=access.read_only,
        filter_tb=filter_tb,
        filters=filters,
        runs_df=runs_df,
        clock_html=clock_html,
        version_state=gr.State(),
        run_nb=run_nb,
        banner_md=gr.Markdown(visible=False, elem_id="run-banner", elem_classes="nover-notice"),
        cancel_btn=cancel_btn,
        resume_btn=resume_btn,
        clone_btn=clone_btn,
        delete_btn=delete_btn,
        export_btn=export_btn,
        confirm_row=confirm_row,
        confirm_md=confirm_md,
        confirm_btn=confirm_btn,
        keep_btn=keep_btn,
        action_md=gr.Markdown(elem_id="run-action"),
        export_file=gr.File(label="Run archive (app.py --import reads it back)", visible=False, elem_id="run-export"),
        error_tb=gr.Textbox(
            label="Error of the selected run",
            lines=6,
            max_lines=30,
            interactive=False,
            visible=False,
            elem_id="run-error",
        ),
        command_code=gr.Code(
            # With trackers (report_to), comment lines under the command say where their files are and how to
            # open them (training/trackers.py tracker_notes); a Code box shows them as text.
            label="Command of the selected run, and where its trackers write (set when a worker starts it)",
            language="shell",
            interactive=False,
            visible=False,
            elem_id="run-command",
        ),
        # A Textbox shows its value as text, never as markup: server output may hold anything.
        server_log_tb=gr.Textbox(
            label="Last lines of the selected run's vLLM server",
            lines=6,
            max_lines=20,
            interactive=False,
            visible=False,
            elem_id="run-server-log",
        ),
        alerts_html=gr.HTML(visible=False, elem_id="run-alerts"),
        refresh_timer=gr.Timer(REFRESH_S),
    )
    _wire(tab, dashboard, train, tabs)
    notes = build_run_notes(dashboard, tab.runs_df, tab.run_nb, tab.version_state)
    return dataclasses.replace(tab, notes=notes, run_import=build_run_import(dashboard, tab.version_state))


def _wire(tab: RunsTab, dashboard: Dashboard, train: TrainTab, tabs: gr.Tabs) -> None:
    store, on_run = dashboard.store, functools.partial(bind, act_on_run, dashboard=dashboard, tab=tab)
    cancel = on_run(action=cancel_run, done="Cancel requested for run #{run}.", what="cancel runs")
    resume = on_run(action=resume_run, done="Queued run #{new}, resuming run #{run}.", what="resume runs")
    delete = on_run(
        action=functools.partial(delete_run, home=dashboard.home, artifacts=dashboard.artifacts),
        done="Deleted run #{run}.",
        what="delete runs",
    )
    acted = [tab.action_md, tab.version_state]
    details = [tab.error_tb, tab.command_code, tab.server_log_tb, tab.alerts_html, tab.banner_md, *_buttons(tab)]
    table = [tab.runs_df, tab.clock_html]
    close = bind(close_confirmation, tab=tab)

    poll = bind(poll_version, store=store, tab=tab)
    # The version's change draws the table: first on page load, then whenever the runs change. The poll goes
    # through the queue: only a queued event's result tells the page that a State changed (Gradio 6).
    tab.refresh_timer.tick(poll, None, [tab.version_state], show_progress="hidden")
    gr.on(None, poll, None, [tab.version_state], show_progress="hidden")  # no triggers: on page load
    tab.version_state.change(
        bind(redraw, store=store, tab=tab),
        [tab.run_nb, tab.filter_tb, *tab.filters.inputs],
        [*table, *tab.filters.inputs[:2], *details],
        show_progress="hidden",
    )
    # .change, not .input: Gradio 6 fires .input on key presses only, so text set otherwise (filled in by the
    # browser, pasted) would not filter. No handler writes this box, so it changes only when a person edits it.
    gr.on(
        [tab.filter_tb.change, *(dropdown.input for dropdown in tab.filters.inputs)],
        bind(filter_table, store=store, tab=tab),
        [tab.filter_tb, *tab.filters.inputs],
        table,
        show_progress="hidden",
        trigger_mode="always_last",
    )
    tab.runs_df.select(bind(select_row, store=store, tab=tab), None, [tab.run_nb, *details])
    tab.cancel_btn.click(cancel, tab.run_nb, acted)
    tab.resume_btn.click(resume, tab.run_nb, acted)
    tab.delete_btn.click(bind(ask_delete, tab=tab), tab.run_nb, [tab.confirm_row, tab.confirm_md, tab.action_md])
    tab.confirm_btn.click(delete, tab.run_nb, acted).then(close, None, [tab.confirm_row])
    tab.keep_btn.click(close, None, [tab.confirm_row])
    clone_outputs = [train.name_tb, *train.field_inputs, tabs]
    tab.clone_btn.click(bind(clone, store=store, train=train, tabs=tabs), tab.run_nb, clone_outputs)
    tab.export_btn.click(bind(export, dashboard=dashboard, tab=tab), tab.run_nb, [tab.export_file])


def _act(
    dashboard: Dashboard,
    run_id: float | None,
    request: gr.Request | None,
    action: Callable[[Store, int], Any],
    done: str,
    what: str,
) -> str:
    try:
        dashboard.access.require_write(request, what)
    except AccessDenied as exc:
        return f"**Refused:** {markdown_text(str(exc))}"
    if not run_id:  # an empty number field reads as 0 or None
        return SELECT_FIRST
    try:
        result = action(dashboard.store, int(run_id))
    except ArtifactsLeft as exc:  # done, with files left behind: said as it is, not as a refusal
        return f"**Deleted, with a problem:** {markdown_text(str(exc))}"
    except (ActionRefused, StorageError) as exc:
        return f"**Refused:** {markdown_text(str(exc))}"
    return done.format(run=int(run_id), new=getattr(result, "id", None))


def _run_details(store: Store, tab: RunsTab, run_id: int | None) -> dict[Any, Any]:
    """The selected run's error, command (with its machines, for a run over several) and vLLM server output boxes
    (each shown when it has one), its no-signal banner (shown when none of its rollouts is format-valid), and the
    buttons whose action applies to it; all hidden or disabled when no run is selected or it is gone."""
    run, checkpoints, banner, alerts = None, 0, "", ""
    if run_id:
        try:
            run = shared_runs(store).get(run_id)  # the runs list every viewer shares, not one more read
            if run is not None:
                # The table's shared read holds every run's alerts: no read of its own.
                alerts = evidence_html(shared_runs_data(store).alerts.get(run_id, []))
                checkpoints = len(store.list_checkpoints(run_id))
                if judged_by_tags(run.tags) and not store.has_format_valid(run_id):  # the cheap read first
                    banner = no_signal_banner(store.format_valid_counts(run_id))
        except StorageError:
            run, checkpoints, banner, alerts = None, 0, "", ""
    error, command, server_log = (run.error, run.command, run.generation_server_log) if run else (None, None, None)
    if run is not None and command and (machines := int(run.config.get("num_machines") or 1)) > 1:
        with contextlib.suppress(StorageError):  # the command alone, as before, when the read fails
            command += "\n" + machines_note(store.list_machines(run.id), machines)
    writable = allowed_actions(run, checkpoints) if run and not tab.read_only else None
    return {
        tab.error_tb: gr.update(value=error or "", visible=bool(error)),
        tab.command_code: gr.update(value=command or "", visible=bool(command)),
        tab.server_log_tb: gr.update(value=server_log or "", visible=bool(server_log)),
        tab.alerts_html: gr.update(value=alerts, visible=bool(alerts)),
        tab.banner_md: gr.update(value=banner, visible=bool(banner)),
        tab.cancel_btn: gr.update(interactive=bool(writable and writable.cancel)),
        tab.resume_btn: gr.update(interactive=bool(writable and writable.resume)),
        tab.delete_btn: gr.update(interactive=bool(writable and writable.delete)),
        tab.clone_btn: gr.update(interactive=run is not None),
        tab.export_btn: gr.update(interactive=run is not None),
    }


def _buttons(tab: RunsTab) -> list[gr.Button]:
    return [tab.cancel_btn, tab.resume_btn, tab.delete_btn, tab.clone_btn, tab.export_btn]
