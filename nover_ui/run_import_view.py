"""The Runs tab's "Import" accordion: an uploaded zip of a TRL GRPO output folder, or of a nover_ui run archive,
stored as a new run (run_import.py does the work), with what was mapped and assumed said under it.

Closed by default: importing is rare next to watching runs. The handler checks the login like every write and holds
a FILE_WORK slot (it parses up to the upload limits of Parquet), and removes the upload from Gradio's cache at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gradio as gr

from nover_ui.access import AccessDenied
from nover_ui.archive import ArchiveError
from nover_ui.context import Dashboard
from nover_ui.events import bind
from nover_ui.run_import import import_zip
from nover_ui.safe_text import markdown_text
from nover_ui.trl_folder import TrlFolderError, TrlLimits
from nover_ui.uploads import discard
from nover_ui.work_limits import FILE_WORK
from storage import StorageError


@dataclass(frozen=True)
class RunImport:
    zip_file: gr.File
    result_md: gr.Markdown
    version_state: gr.State
    """The Runs tab's: moved on after an import, so the table redraws with the new run."""


@FILE_WORK
def import_upload(
    temp_path: str | None, request: gr.Request | None, *, dashboard: Dashboard, view: RunImport
) -> dict[Any, Any]:
    """Store the uploaded zip as a new run; the line under the box says which run, or why not, and the notes."""
    if temp_path is None:
        return {view.result_md: ""}
    try:
        dashboard.access.require_write(request, "import runs")
        limits = TrlLimits(max_bytes=dashboard.limits.max_bytes, max_rows=dashboard.limits.max_rows)
        run, notes = import_zip(dashboard.store, Path(temp_path), dashboard.places.uploads, limits)
    except (AccessDenied, TrlFolderError, ArchiveError, StorageError, OSError) as exc:
        return {view.result_md: f"**Import refused:** {markdown_text(str(exc))}"}
    finally:
        discard(temp_path)
    lines = [f"Imported as run **#{run.id}** ({markdown_text(run.name)})."]
    lines += [f"- {markdown_text(note)}" for note in notes]
    return {view.result_md: "\n".join(lines), view.version_state: dashboard.store.runs_version()}


def build_run_import(dashboard: Dashboard, version_state: gr.State) -> RunImport:
    with gr.Accordion("Import", open=False, elem_id="run-import"):
        gr.Markdown(
            "A zip of a TRL GRPO run's output_dir (trained with `log_completions=True`: its "
            "`completions/*.parquet` and `checkpoint-*/trainer_state.json` are read; weights may be left out), or a "
            "run archive from Export. The run is added as a new run; `python app.py --import-trl DIR` does the same."
        )
        view = RunImport(
            zip_file=gr.File(
                label="Run zip",
                file_types=[".zip"],
                height=110,
                interactive=not dashboard.access.read_only,
                elem_id="run-import-file",
            ),
            result_md=gr.Markdown(elem_id="run-import-result"),
            version_state=version_state,
        )
    view.zip_file.upload(
        bind(import_upload, dashboard=dashboard, view=view), view.zip_file, [view.result_md, view.version_state]
    )
    return view
