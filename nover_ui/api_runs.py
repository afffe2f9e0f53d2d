"""API endpoints that change runs or hand out a run's files: the Runs tab's actions, its name, tags and notes, the
run archive out and in, and TRL output folders in. Each checks the login as the UI's button does (Access.gate, with the
same action words), holds the same work limit and concurrency group, and calls the same checked function, so a
refusal says what the UI says.
"""

from __future__ import annotations

import gradio as gr
from gradio import FileData

from nover_ui.api_values import download, plain, refused_as_api_error, uploaded_path
from nover_ui.archive import import_run
from nover_ui.context import Dashboard
from nover_ui.queue import queue_run as queue_checked_run
from nover_ui.run_actions import cancel_run, clone_config, delete_run, export_archive, resume_run
from nover_ui.run_import import import_zip
from nover_ui.run_notes import EDITS_AT_ONCE
from nover_ui.safe_text import api_error
from nover_ui.trl_folder import TrlLimits
from nover_ui.uploads import discard
from nover_ui.work_limits import BULK_READS, FILE_WORK, RUN_EDITS


def register_run_endpoints(dashboard: Dashboard) -> None:
    """Add the endpoints to the Blocks being built (call inside `with gr.Blocks()`)."""
    store, access = dashboard.store, dashboard.access

    @FILE_WORK
    def queue_run(config: dict, request: gr.Request, name: str = "api run") -> dict:
        """Validate `config` (RunConfig fields; missing ones take their defaults) and queue it; returns the run."""
        access.gate(request, "queue runs")
        with refused_as_api_error():
            return plain(queue_checked_run(store, name, config, dashboard.places, dashboard.limits))

    def cancel(run_id: int, request: gr.Request) -> dict:
        """Cancel a queued run, or ask a running one to stop after its current step; returns the run."""
        access.gate(request, "cancel runs")
        with refused_as_api_error():
            return plain(cancel_run(store, int(run_id)))

    def resume(run_id: int, request: gr.Request) -> dict:
        """Queue a new run that continues a failed or cancelled run from its latest checkpoint; returns the new run."""
        access.gate(request, "resume runs")
        with refused_as_api_error():
            return plain(resume_run(store, int(run_id)))

    def clone(run_id: int) -> dict:
        """{"name", "config"}: what the Train form gets from "Clone" (the config as a new run would use it); pass
        both, changed as you like, to /queue_run."""
        with refused_as_api_error():
            name, config = clone_config(store, int(run_id))
        return {"name": name, "config": config.to_dict()}

    def delete(run_id: int, request: gr.Request) -> dict:
        """Delete a run that is not running, with its metrics, rollouts, evaluations and checkpoint folders."""
        access.gate(request, "delete runs")
        with refused_as_api_error():
            delete_run(store, int(run_id), dashboard.home, dashboard.artifacts)
        return {"id": int(run_id), "deleted": True}

    @BULK_READS
    def export(run_id: int) -> FileData:
        """The run archive (zip of Parquet tables: the run, its metrics, its rollouts), which /import_run and
        app.py --import read back."""
        with refused_as_api_error():
            return download(export_archive(store, int(run_id), dashboard.downloads))

    @FILE_WORK
    def import_archive(archive: FileData, request: gr.Request) -> dict:
        """A run archive (from /export_run or app.py --export) stored as a new run; returns it with `source_id`,
        its id where it was exported."""
        access.gate(request, "import runs")  # a client that may not write cannot upload either (UploadGuard)
        path = uploaded_path(archive, "archive")
        try:
            if path.stat().st_size > dashboard.limits.max_bytes:
                raise api_error(
                    f"archive: {path.stat().st_size / 2**20:,.0f} MB, over this dashboard's upload limit of "
                    f"{dashboard.limits.max_bytes / 2**20:,.0f} MB; import it on the server with app.py --import"
                )
            with refused_as_api_error():  # ArchiveError is a ValueError: the file's fault, named
                run, source = import_run(store, path)
        finally:
            discard(path)  # the run is in the database now, or refused: the upload is of no further use
        return {**plain(run), "source_id": source["source_id"]}

    @FILE_WORK
    def import_trl(folder_zip: FileData, request: gr.Request) -> dict:
        """A zip of a plain TRL GRPO output_dir (trained with log_completions=True) stored as a new run, as the Runs
        tab's Import does; returns the run with `notes` on what was mapped, assumed and missing."""
        access.gate(request, "import runs")
        path = uploaded_path(folder_zip, "folder_zip")
        try:
            limits = TrlLimits(max_bytes=dashboard.limits.max_bytes, max_rows=dashboard.limits.max_rows)
            with refused_as_api_error():  # TrlFolderError and ArchiveError are ValueErrors: the file's fault, named
                run, notes = import_zip(store, path, dashboard.places.uploads, limits)
        finally:
            discard(path)
        return {**plain(run), "notes": notes}

    @RUN_EDITS
    def rename(run_id: int, name: str, request: gr.Request) -> dict:
        """Rename a run; returns it."""
        access.gate(request, "rename runs")
        with refused_as_api_error():
            return plain(store.rename_run(int(run_id), name))

    @RUN_EDITS
    def set_tags(run_id: int, tags: list[str], request: gr.Request) -> dict:
        """Replace a run's tags (each stripped, empty ones dropped); returns the run."""
        access.gate(request, "tag runs")
        with refused_as_api_error():
            return plain(store.set_run_tags(int(run_id), tags))

    @RUN_EDITS
    def set_notes(run_id: int, notes: str, request: gr.Request) -> dict:
        """Replace a run's notes; returns the run."""
        access.gate(request, "write run notes")
        with refused_as_api_error():
            return plain(store.set_run_notes(int(run_id), notes))

    for endpoint, api_name in (
        (queue_run, "queue_run"),
        (cancel, "cancel_run"),
        (resume, "resume_run"),
        (clone, "clone_run"),
        (delete, "delete_run"),
        (export, "export_run"),
        (import_archive, "import_run"),
        (import_trl, "import_trl"),
    ):
        gr.api(endpoint, api_name=api_name)
    for endpoint, api_name in ((rename, "rename_run"), (set_tags, "set_tags"), (set_notes, "set_notes")):
        gr.api(endpoint, api_name=api_name, concurrency_limit=EDITS_AT_ONCE, concurrency_id="run-edits")
