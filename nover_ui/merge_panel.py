"""The Evaluate tab's "Merged model" row: merge the chosen checkpoint on a worker, download the merged folder as a
zip, push it to the Hub when a token is configured. The checks live in nover_ui/merge_actions.py."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import gradio as gr

from nover_ui.access import AccessDenied
from nover_ui.context import Dashboard
from nover_ui.events import bind
from nover_ui.hub_push import TOKEN_ENV, hub_token
from nover_ui.merge_actions import MergeRefused, merge_status, merged_zip, push_merged, queue_merge
from nover_ui.safe_text import markdown_text, refusal
from nover_ui.work_limits import BULK_READS, FILE_WORK, HUB_PUSHES
from storage import StorageError, Store
from training.config import ConfigError


@dataclass(frozen=True)
class MergePanel:
    merge_btn: gr.Button
    zip_btn: gr.Button
    repo_tb: gr.Textbox
    push_btn: gr.Button
    status_md: gr.Markdown
    download_file: gr.File
    """The Evaluate tab's download box, which the merged zip goes to."""
    job_state: gr.State
    """The id of the merge job this page waits for; None when it waits for none."""
    timer: gr.Timer
    """Ticks only while the page waits for a merge: the Evaluate tab's own timer polls a cheap version, and a
    second request on each of its ticks would double what every open page costs the server."""


@FILE_WORK
def merge(
    dashboard: Dashboard, panel: MergePanel, run_id: int | None, step: int | None, request: gr.Request
) -> dict[Any, Any]:
    try:
        dashboard.access.require_write(request, "merge checkpoints")
        if run_id is None or step is None:
            raise MergeRefused("Pick a run and one of its checkpoints.")
        job = queue_merge(dashboard.store, int(run_id), int(step), dashboard.places)
    except (AccessDenied, MergeRefused, ConfigError, StorageError) as exc:
        return {panel.status_md: markdown_text(str(exc)), panel.job_state: None, panel.timer: gr.Timer(active=False)}
    line, ended = merge_status(dashboard.store, job.id)
    return {
        panel.status_md: markdown_text(line),
        panel.job_state: None if ended else job.id,
        panel.timer: gr.Timer(active=not ended),
    }


def poll(store: Store, panel: MergePanel, job_id: int | None) -> dict[Any, Any]:
    """The waited-for merge's status line once it has ended; nothing while it runs or none is waited for."""
    if job_id is None:
        return {panel.status_md: gr.skip(), panel.job_state: gr.skip(), panel.timer: gr.Timer(active=False)}
    try:
        line, ended = merge_status(store, job_id)
    except StorageError:  # a busy database, or the job was deleted with its run
        return {panel.status_md: gr.skip(), panel.job_state: gr.skip(), panel.timer: gr.skip()}
    if not ended:
        return {panel.status_md: gr.skip(), panel.job_state: gr.skip(), panel.timer: gr.skip()}
    return {panel.status_md: markdown_text(line), panel.job_state: None, panel.timer: gr.Timer(active=False)}


@BULK_READS
def merged_file(dashboard: Dashboard, panel: MergePanel, run_id: int | None, step: int | None) -> dict[Any, Any]:
    if run_id is None or step is None:
        raise refusal("Pick a run and one of its checkpoints.")
    try:
        path = merged_zip(
            dashboard.store, int(run_id), int(step), dashboard.home, dashboard.downloads, dashboard.places
        )
    except (MergeRefused, StorageError) as exc:
        raise refusal(str(exc)) from None
    return {panel.download_file: gr.update(value=str(path))}


@HUB_PUSHES
def push(
    dashboard: Dashboard, panel: MergePanel, run_id: int | None, step: int | None, repo_id: str, request: gr.Request
) -> dict[Any, Any]:
    try:
        dashboard.access.require_write(request, "push models to the Hub")
        if run_id is None or step is None:
            raise MergeRefused("Pick a run and one of its checkpoints.")
        url = push_merged(
            dashboard.store, int(run_id), int(step), repo_id or "", dashboard.home, places=dashboard.places
        )
    except (AccessDenied, MergeRefused, StorageError) as exc:
        return {panel.status_md: markdown_text(f"Not pushed: {exc}")}
    return {panel.status_md: markdown_text(f"Pushed to {url} (private).")}


def build_merge_panel(
    dashboard: Dashboard, run_dd: gr.Dropdown, step_dd: gr.Dropdown, download_file: gr.File
) -> MergePanel:
    """The row, under the Evaluate tab's checkpoint download (`step_dd` picks the checkpoint)."""
    writable = not dashboard.access.read_only
    pushable = hub_token() is not None
    with gr.Row():
        merge_btn = gr.Button("Merge into a full model", interactive=writable, elem_id="merge-queue")
        zip_btn = gr.Button("Merged model (zip)", elem_id="merge-download")
        repo_tb = gr.Textbox(
            label="Hub repository (owner/name)", visible=pushable, interactive=writable, elem_id="merge-repo"
        )
        push_btn = gr.Button("Push to Hub", visible=pushable, interactive=writable, elem_id="merge-push")
    hint = "" if pushable else f"Set {TOKEN_ENV} in the dashboard's environment to push merged models to the Hub."
    status_md = gr.Markdown(hint, elem_id="merge-status")
    job_state = gr.State(None)
    timer = gr.Timer(2.0, active=False)
    panel = MergePanel(merge_btn, zip_btn, repo_tb, push_btn, status_md, download_file, job_state, timer)
    merge_btn.click(bind(merge, dashboard, panel), [run_dd, step_dd], {status_md, job_state, timer})
    timer.tick(bind(poll, dashboard.store, panel), job_state, {status_md, job_state, timer}, show_progress="hidden")
    zip_btn.click(bind(merged_file, dashboard, panel), [run_dd, step_dd], {download_file})
    push_btn.click(
        bind(push, dashboard, panel),
        [run_dd, step_dd, repo_tb],
        {status_md},
        concurrency_limit=1,
        concurrency_id="hub-push",
    )
    return panel
