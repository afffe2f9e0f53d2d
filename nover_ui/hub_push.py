"""Pushing a merged model folder to the Hugging Face Hub with huggingface_hub's HfApi (create_repo, upload_folder).

The token is the operator's: HF_TOKEN in the dashboard's environment (huggingface_hub's own variable), never typed
into the page or stored in the database. A repository id is checked here before any request is made.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

TOKEN_ENV = "HF_TOKEN"
REPO_NAME = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?")
MAX_REPO_ID_CHARS = 96
"""The Hub's limit on the length of a whole repository id ('owner/name')."""


class HubPushError(Exception):
    """The push did not happen or did not finish; the message says why and what to do."""


def hub_token() -> str | None:
    """The configured token, or None when pushing is not set up."""
    return os.environ.get(TOKEN_ENV, "").strip() or None


def repo_id_problem(repo_id: str) -> str | None:
    """Why `repo_id` is not a Hub model repository id 'owner/name', or None when it is.

    >>> repo_id_problem("alice/nover-smollm2") is None
    True
    >>> repo_id_problem("nover-smollm2")
    "repo id must be 'owner/name' (your user or organisation, a slash, the model's name), got 'nover-smollm2'"
    >>> repo_id_problem("alice/..x").endswith("have no '--' or '..'; got 'alice/..x'")
    True
    """
    if len(repo_id) > MAX_REPO_ID_CHARS:
        return f"repo id has at most {MAX_REPO_ID_CHARS} characters, got {len(repo_id)}"
    owner, slash, name = repo_id.partition("/")
    if not slash or not owner or not name:
        return f"repo id must be 'owner/name' (your user or organisation, a slash, the model's name), got {repo_id!r}"
    if not all(REPO_NAME.fullmatch(part) and "--" not in part and ".." not in part for part in (owner, name)):
        return (
            "repo id parts hold letters, digits, '-', '_' and '.', start and end with a letter or digit, and have no "
            f"'--' or '..'; got {repo_id!r}"
        )
    return None


def push_to_hub(folder: Path, repo_id: str, token: str, private: bool = True, endpoint: str | None = None) -> str:
    """Create the model repository `repo_id` (kept when it exists; private unless `private` is False) and upload
    `folder` to it in one commit; returns the repository's URL. `endpoint`: another Hub than huggingface.co.
    HubPushError (nothing sent) for a bad repo id or a missing folder, or with the Hub's answer when it refused."""
    if (problem := repo_id_problem(repo_id)) is not None:
        raise HubPushError(problem)
    if not Path(folder).is_dir():
        raise HubPushError(f"the merged model folder {folder} is missing; merge the checkpoint again")
    from huggingface_hub import HfApi  # gradio loads it anyway; only a push needs it here
    from huggingface_hub.errors import HfHubHTTPError

    api = HfApi(endpoint=endpoint, token=token, library_name="nover_ui")
    step = f"create the repository {repo_id}"
    try:
        url = api.create_repo(repo_id, repo_type="model", private=private, exist_ok=True)
        step = f"upload {Path(folder).name} to {repo_id}"
        api.upload_folder(repo_id=repo_id, folder_path=folder, repo_type="model", commit_message="Upload merged model")
    except HfHubHTTPError as exc:
        status = exc.response.status_code if exc.response is not None else None
        said = exc.server_message or _first_line(exc)
        raise HubPushError(f"the Hub refused to {step} (HTTP {status}): {said}{_advice(status)}") from None
    except Exception as exc:  # no network, a refused connection, a timeout: the HTTP client's own error types
        raise HubPushError(f"could not reach the Hub to {step}: {type(exc).__name__}: {_first_line(exc)}") from None
    return str(url)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _advice(status: int | None) -> str:
    if status in (401, 403):
        return f"; check that {TOKEN_ENV} is a token with write access to that owner"
    if status == 409:
        return "; the repository exists and is not yours: choose another name"
    return ""
