"""The run pickers of the tabs: every run as a dropdown choice, and a choice that survives the list's refresh."""

from __future__ import annotations

from typing import Any

import gradio as gr

from storage import Store


def run_choices(store: Store) -> list[tuple[str, int]]:
    """(label, id) of every run, newest first."""
    return [(f"#{run.id} {run.name} ({run.status})", run.id) for run in store.list_runs()]


def one_run_update(store: Store, selected: int | None) -> Any:
    """A single-run dropdown with the runs re-read: the chosen run stays chosen; none chosen opens the newest."""
    choices = run_choices(store)
    if selected is None and choices:
        selected = choices[0][1]
    return gr.update(choices=choices, value=selected)


def many_runs_update(store: Store, selected: list[int] | None) -> Any:
    """A multi-run dropdown with the runs re-read: the chosen runs that still exist stay chosen; none chosen
    opens the newest."""
    choices = run_choices(store)
    known = [run_id for _, run_id in choices]
    if not selected:
        selected = known[:1]
    return gr.update(choices=choices, value=[run_id for run_id in selected if run_id in known])
