"""The dashboard's actions as API endpoints for `gradio_client` (see README.md, "Scripting the dashboard").

Each endpoint returns plain JSON values (a file for downloads); a refusal raises gr.Error, which the client raises
as an AppError carrying the same message a person sees in the UI. The endpoints live by subject:
- api_runs.py: queue, cancel, resume, clone, delete, export, import, rename, tags, notes;
- api_reads.py: the runs list, a run's metrics, rollouts and alerts;
- api_jobs.py: evaluations and playground prompts (queue, status and answers, samples download);
- api_experiments.py: queue an experiment grid, list experiments, one with its runs;
- api_models.py: merge a checkpoint into a full model, download it, push it to the Hub;
- api_files.py: a data file uploaded for training, a run's rollouts and a checkpoint's adapter downloaded.
"""

from __future__ import annotations

import gradio as gr

from nover_ui.access import AccessDenied
from nover_ui.api_experiments import register_experiment_endpoints
from nover_ui.api_files import register_file_endpoints
from nover_ui.api_jobs import register_job_endpoints
from nover_ui.api_models import register_model_endpoints
from nover_ui.api_reads import register_read_endpoints
from nover_ui.api_runs import register_run_endpoints
from nover_ui.context import Dashboard
from nover_ui.safe_text import api_error

MAX_LOGIN_CHARS = 256


def register_api(dashboard: Dashboard) -> None:
    """Add the endpoints to the Blocks being built (call inside `with gr.Blocks()`)."""
    access = dashboard.access

    def login(username: str, password: str, request: gr.Request) -> dict:
        """Check a login (when the dashboard asks for one); returns {"user", "token", "expires_at"}. Send the
        token in the X-Nover-Token header of later calls (Client(url, headers={...})) to write."""
        if max(len(username), len(password)) > MAX_LOGIN_CHARS:
            raise api_error(f"user and password have at most {MAX_LOGIN_CHARS} characters")
        try:
            granted = access.login(request, username.strip(), password)
        except AccessDenied as exc:
            raise api_error(str(exc)) from None
        return {"user": granted.user, "token": granted.token, "expires_at": granted.expires_at}

    gr.api(login, api_name="login")
    register_run_endpoints(dashboard)
    register_read_endpoints(dashboard)
    register_job_endpoints(dashboard)
    register_experiment_endpoints(dashboard)
    register_model_endpoints(dashboard)
    register_file_endpoints(dashboard)
