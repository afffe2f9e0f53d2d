"""API endpoints of the Evaluate tab's "Models out" row: merge a checkpoint into a full model (a worker job), download
the merged folder as a zip, push it to the Hub. Each checks the login with the UI's action words, holds the same work
limit and concurrency group as the row's buttons, and calls the same checked function (nover_ui/merge_actions.py).
"""

from __future__ import annotations

import gradio as gr
from gradio import FileData

from nover_ui.api_values import download, plain, refused_as_api_error
from nover_ui.context import Dashboard
from nover_ui.merge_actions import merged_zip, push_merged, queue_merge
from nover_ui.work_limits import BULK_READS, FILE_WORK, HUB_PUSHES


def register_model_endpoints(dashboard: Dashboard) -> None:
    """Add the endpoints to the Blocks being built (call inside `with gr.Blocks()`)."""
    store, access = dashboard.store, dashboard.access

    @FILE_WORK
    def merge_checkpoint(run_id: int, step: int, request: gr.Request) -> dict:
        """Queue the merge of the run's checkpoint at `step` into a full model (a merge of it already queued is
        returned instead); follow it with /get_evaluation: once succeeded, its metrics hold the folder's path."""
        access.gate(request, "merge checkpoints")
        with refused_as_api_error():
            return plain(queue_merge(store, int(run_id), int(step), dashboard.places))

    @BULK_READS
    def download_merged(run_id: int, step: int) -> FileData:
        """The merged model of the checkpoint (safetensors, tokenizer, model card) as a zip."""
        with refused_as_api_error():
            return download(
                merged_zip(store, int(run_id), int(step), dashboard.home, dashboard.downloads, dashboard.places)
            )

    @HUB_PUSHES
    def push_to_hub(run_id: int, step: int, repo_id: str, request: gr.Request) -> str:
        """Push the merged model of the checkpoint to the private Hub repository `repo_id` ("owner/name") with the
        dashboard's HF_TOKEN; returns the repository's URL."""
        access.gate(request, "push models to the Hub")
        with refused_as_api_error():
            return push_merged(store, int(run_id), int(step), repo_id, dashboard.home, places=dashboard.places)

    gr.api(merge_checkpoint, api_name="merge_checkpoint")
    gr.api(download_merged, api_name="download_merged")
    gr.api(push_to_hub, api_name="push_to_hub", concurrency_limit=1, concurrency_id="hub-push")
