"""The selected run's name, tags and notes in the Runs tab: filled when a row is clicked, each saved by its button.

The boxes are filled on a click only, never on a redraw, so the table redrawing under a running run never
overwrites what a person is typing. Saving checks the login, holds a RUN_EDITS slot and moves the runs' version,
which redraws the table with the new name or tags. Names, tags and notes are a person's text: shown in text boxes
and table cells (never markup), and in messages through markdown_text.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import gradio as gr

from nover_ui.access import AccessDenied
from nover_ui.context import Dashboard
from nover_ui.events import bind
from nover_ui.safe_text import markdown_text
from nover_ui.shared_reads import shared_runs
from nover_ui.work_limits import RUN_EDITS
from storage import RunRecord, StorageError, Store

SELECT_FIRST = "Select a run first (click its row)."
EDITS_AT_ONCE = 2
"""Saves of names, tags and notes handled at once (each is one short write)."""


@dataclass(frozen=True)
class RunNotes:
    name_tb: gr.Textbox
    tags_tb: gr.Textbox
    notes_tb: gr.Textbox
    rename_btn: gr.Button
    tags_btn: gr.Button
    notes_btn: gr.Button
    status_md: gr.Markdown

    @property
    def buttons(self) -> list[gr.Button]:
        return [self.rename_btn, self.tags_btn, self.notes_btn]


# ---- handlers: plain values in, {component: update} out ---------------------------------------------------


def fill(evt: gr.SelectData, *, store: Store, notes: RunNotes, read_only: bool) -> dict[Any, Any]:
    """The clicked row's run's name, tags (a comma list) and notes, from the runs list every viewer shares."""
    try:
        run = shared_runs(store).get(int(evt.row_value[0]))
    except StorageError:
        run = None
    return {
        notes.name_tb: run.name if run else "",
        notes.tags_tb: ", ".join(run.tags) if run else "",
        notes.notes_tb: (run.notes or "") if run else "",
        notes.status_md: "",
        **{button: gr.update(interactive=run is not None and not read_only) for button in notes.buttons},
    }


@RUN_EDITS
def rename(
    run_id: float | None,
    name: str,
    request: gr.Request | None,
    *,
    dashboard: Dashboard,
    notes: RunNotes,
    version: gr.State,
) -> dict[Any, Any]:
    return _edit(
        dashboard,
        notes,
        version,
        run_id,
        request,
        "rename runs",
        "Renamed run #{run}.",
        lambda i: dashboard.store.rename_run(i, name),
    )


@RUN_EDITS
def save_tags(
    run_id: float | None,
    tags: str,
    request: gr.Request | None,
    *,
    dashboard: Dashboard,
    notes: RunNotes,
    version: gr.State,
) -> dict[Any, Any]:
    """`tags` as typed: a comma list (the Store strips them, drops empty ones and refuses too many or too long)."""
    return _edit(
        dashboard,
        notes,
        version,
        run_id,
        request,
        "tag runs",
        "Saved the tags of run #{run}.",
        lambda i: dashboard.store.set_run_tags(i, tags.split(",")),
    )


@RUN_EDITS
def save_notes(
    run_id: float | None,
    text: str,
    request: gr.Request | None,
    *,
    dashboard: Dashboard,
    notes: RunNotes,
    version: gr.State,
) -> dict[Any, Any]:
    return _edit(
        dashboard,
        notes,
        version,
        run_id,
        request,
        "write run notes",
        "Saved the notes of run #{run}.",
        lambda i: dashboard.store.set_run_notes(i, text),
    )


def _edit(
    dashboard: Dashboard,
    notes: RunNotes,
    version: gr.State,
    run_id: float | None,
    request: gr.Request | None,
    what: str,
    done: str,
    change: Callable[[int], RunRecord],
) -> dict[Any, Any]:
    """Apply `change` to the selected run when the asker may `what`; a refusal says why and changes nothing."""
    try:
        dashboard.access.require_write(request, what)
    except AccessDenied as exc:
        return {notes.status_md: f"**Refused:** {markdown_text(str(exc))}"}
    if not run_id:
        return {notes.status_md: SELECT_FIRST}
    try:
        run = change(int(run_id))
    except StorageError as exc:
        return {notes.status_md: f"**Not saved:** {markdown_text(str(exc))}"}
    shown = {notes.name_tb: run.name, notes.tags_tb: ", ".join(run.tags), notes.notes_tb: run.notes or ""}
    try:
        moved = dashboard.store.runs_version()  # the table redraws now, not at the next poll
    except StorageError:
        moved = gr.skip()
    return {notes.status_md: done.format(run=run.id), version: moved, **shown}


# ---- the builder --------------------------------------------------------------------------------------------


def build_run_notes(dashboard: Dashboard, runs_df: gr.Dataframe, run_nb: gr.Number, version: gr.State) -> RunNotes:
    """The boxes and buttons, placed where it is called (under the Runs tab's details), wired to the table's clicks
    (`runs_df`), the selected run (`run_nb`) and the version state whose change redraws the table."""
    read_only = dashboard.access.read_only
    with gr.Accordion("Name, tags and notes of the selected run", open=True, elem_id="run-notes"):
        with gr.Row(equal_height=False):
            name_tb = gr.Textbox(label="Name", max_lines=1, scale=3, elem_id="run-name")
            rename_btn = gr.Button("Rename", interactive=False, scale=1, elem_id="rename-run")
            tags_tb = gr.Textbox(label="Tags (separated by commas)", max_lines=1, scale=3, elem_id="run-tags")
            tags_btn = gr.Button("Save tags", interactive=False, scale=1, elem_id="save-tags")
        notes_tb = gr.Textbox(label="Notes", lines=3, max_lines=20, elem_id="run-notes-text")
        notes_btn = gr.Button("Save notes", interactive=False, elem_id="save-notes")
        status_md = gr.Markdown(elem_id="run-notes-status")
    notes = RunNotes(name_tb, tags_tb, notes_tb, rename_btn, tags_btn, notes_btn, status_md)
    runs_df.select(
        bind(fill, store=dashboard.store, notes=notes, read_only=read_only),
        None,
        [name_tb, tags_tb, notes_tb, status_md, *notes.buttons],
    )
    saved = [status_md, version, name_tb, tags_tb, notes_tb]
    for button, handler, box in (
        (rename_btn, rename, name_tb),
        (tags_btn, save_tags, tags_tb),
        (notes_btn, save_notes, notes_tb),
    ):
        button.click(
            bind(handler, dashboard=dashboard, notes=notes, version=version),
            [run_nb, box],
            saved,
            concurrency_limit=EDITS_AT_ONCE,
            concurrency_id="run-edits",
        )
    return notes
