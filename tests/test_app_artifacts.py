"""app.py --artifacts: checked at start-up (a clear error and exit code 2 when it carries credentials or cannot be
reached), named in the start-up output and the workers' command line without a secret."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from app import parse_settings, worker_command, worker_env
from tests.helpers import free_port
from tests.object_store import CREDENTIALS

ROOT = Path(__file__).resolve().parent.parent


def app(home: Path, *flags: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "app.py", "--workers", "0", "--home", str(home), *flags],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **(env or {})},
    )


def no_secret_in(text: str) -> bool:
    return not any(secret in text for secret in CREDENTIALS.values())


def test_credentials_in_the_url_or_an_unreachable_store_stop_the_app_saying_why(tmp_path, capsys):
    key, secret = CREDENTIALS.values()
    with pytest.raises(SystemExit) as exited:
        parse_settings(["--home", str(tmp_path), "--artifacts", f"s3://{key}:{secret}@bucket/nover"], env={})
    said = capsys.readouterr()
    assert exited.value.code == 2
    assert "--artifacts must not carry credentials" in said.err and "AWS_ACCESS_KEY_ID" in said.err
    assert no_secret_in(said.out + said.err)

    nothing_listens = {"AWS_ENDPOINT_URL_S3": f"http://127.0.0.1:{free_port()}", "AWS_MAX_ATTEMPTS": "1"}
    # The variable, as a Space or a container sets it.
    unreachable = app(tmp_path, env={**CREDENTIALS, **nothing_listens, "NOVER_UI_ARTIFACTS": "s3://bucket/nover"})
    assert unreachable.returncode == 2
    assert "--artifacts: cannot reach the artifact store s3://bucket/nover" in unreachable.stderr
    assert "check the URL and the credentials in the environment" in unreachable.stderr
    assert no_secret_in(unreachable.stdout + unreachable.stderr)


@pytest.mark.slow  # builds the whole dashboard in a process of its own
def test_the_store_is_named_at_start_up_and_given_to_the_workers_without_its_credentials(tmp_path, s3_artifacts):
    with socket.socket() as taken:  # the app stops after start-up: it cannot serve on a port already in use
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        started = app(tmp_path, "--artifacts", s3_artifacts, "--port", str(taken.getsockname()[1]))
    assert started.returncode == 2 and "cannot serve on" in started.stderr
    assert f"nover_ui: uploads, checkpoints and merged models go through {s3_artifacts}" in started.stderr
    assert no_secret_in(started.stdout + started.stderr)

    settings = parse_settings(["--home", str(tmp_path)], env={"NOVER_UI_ARTIFACTS": s3_artifacts})
    command = worker_command(settings)
    assert command[command.index("--artifacts") + 1] == s3_artifacts
    assert no_secret_in(" ".join(command))
    assert worker_env(settings)["AWS_SECRET_ACCESS_KEY"] == CREDENTIALS["AWS_SECRET_ACCESS_KEY"]  # inherited
    assert "--artifacts" not in worker_command(parse_settings(["--home", str(tmp_path)], env={}))
