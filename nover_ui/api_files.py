"""API endpoints for the files the UI takes and hands out beside runs: a data file uploaded for training (the Train
tab's upload), a run's rollouts as a table and a checkpoint's adapter as a zip (the Evaluate tab's Downloads). Each
checks the login and holds the work limit of the UI's event, and calls the same function.
"""

from __future__ import annotations

import gradio as gr
from gradio import FileData

from nover_ui.access import AccessDenied
from nover_ui.api_values import download, refused_as_api_error, uploaded_path
from nover_ui.context import Dashboard
from nover_ui.exports import write_table, zip_checkpoint
from nover_ui.safe_text import api_error
from nover_ui.uploads import discard
from nover_ui.work_limits import BULK_READS, FILE_WORK


def register_file_endpoints(dashboard: Dashboard) -> None:
    """Add the endpoints to the Blocks being built (call inside `with gr.Blocks()`)."""
    store, access = dashboard.store, dashboard.access

    @FILE_WORK
    def upload_data(data_file: FileData, request: gr.Request) -> dict:
        """Keep a CSV/JSONL/Parquet file for training, as the Train tab's upload does (same limits); returns
        {"dataset", "dataset_name", "columns", "prompt_column", "reference_column"}: put dataset, dataset_name and
        the columns in the config of /queue_run (a column is None when none is named like it). With an artifact
        store, dataset is the file's URL there, which workers on any machine read."""
        access.gate(request, "upload data")
        path = uploaded_path(data_file, "data_file")
        try:
            with refused_as_api_error():  # DataError: a file over the limits, unreadable, without the columns
                kept = dashboard.keep_upload(str(path), request)
        except AccessDenied as exc:
            raise api_error(str(exc)) from None
        finally:
            discard(path)  # kept under HOME/uploads, or refused: Gradio's copy is of no further use
        return {
            "dataset": dashboard.places.recorded(str(kept.path)),
            "dataset_name": kept.name,
            "columns": list(kept.columns),
            "prompt_column": kept.prompt_column,
            "reference_column": kept.reference_column,
        }

    @BULK_READS
    def download_rollouts(run_id: int, fmt: str = "parquet") -> FileData:
        """Every rollout of the run as one table (fmt "parquet" or "csv"), as the Evaluate tab's "Run's rollouts"."""
        with refused_as_api_error():
            rollouts = store.get_rollouts(int(run_id))
            return download(write_table(rollouts, f"run-{int(run_id)}-rollouts", fmt, dashboard.downloads))

    @BULK_READS
    def download_adapter(run_id: int, step: int) -> FileData:
        """The run's checkpoint at `step` (policy and proxy adapters, optimizer state) as a zip."""
        with refused_as_api_error():
            checkpoint = store.get_checkpoint(int(run_id), int(step))
            folder = dashboard.places.checkpoint_folder(checkpoint.path, int(run_id))
            return download(zip_checkpoint(folder, f"run-{int(run_id)}-step-{int(step)}-adapter", dashboard.downloads))

    gr.api(upload_data, api_name="upload_data")
    gr.api(download_rollouts, api_name="download_rollouts")
    gr.api(download_adapter, api_name="download_adapter")
