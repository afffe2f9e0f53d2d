"""`python app.py --demo`: a read-only showcase of an existing database, as on a public Hugging Face Space."""

import subprocess
import sys
from pathlib import Path

import pytest
from playwright.sync_api import expect

from storage import Store
from tests.browser.conftest import ROOT, serve
from tests.helpers import step_rows


def workers_of(home: Path) -> list[str]:
    """Command lines of the worker processes running over `home`."""
    commands = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            command = cmdline.read_bytes().split(b"\0")
        except OSError:
            continue  # the process ended meanwhile
        if b"training.worker" in command and str(home).encode() in command:
            commands.append(b" ".join(command).decode())
    return commands


@pytest.fixture
def demo_app(app_home, monkeypatch):
    store = Store(f"sqlite:///{app_home / 'nover_ui.db'}")
    run = store.start_run(store.create_run("showcase", {"max_steps": 2}).id, "w")
    for step in (1, 2):
        store.log_step(run.id, step, {"reward": step / 2}, step_rows(1, 4), total_steps=2)
    store.finish_run(run.id, "succeeded")
    store.close()
    monkeypatch.setenv("SPACE_ID", "someone/nover-demo")
    yield from serve(app_home, "--demo")


def test_the_demo_shows_runs_changes_nothing_and_invites_duplication(demo_app, app_home, page, artifacts):
    before = (app_home / "nover_ui.db").read_bytes()
    page.goto(demo_app)
    notice = page.get_by_role("link", name="Duplicate this Space")
    expect(notice).to_have_attribute("href", "https://huggingface.co/spaces/someone/nover-demo?duplicate=true")
    expect(page.locator("#runs-table")).to_contain_text("showcase")  # opens on Runs
    expect(page.locator("#runs-table")).to_contain_text("succeeded")
    page.screenshot(path=str(artifacts / "demo.png"), full_page=True)
    page.get_by_role("tab", name="Train").click()
    expect(page.locator("#queue-run")).to_be_disabled()
    expect(page.locator("#train-status")).to_contain_text("Read-only")
    page.get_by_role("tab", name="Traces").click()
    expect(page.locator("#traces .nover-traces article")).to_have_count(4, timeout=30_000)
    assert not (app_home / "runs").exists()
    assert not workers_of(app_home)
    assert (app_home / "nover_ui.db").read_bytes() == before


def test_the_demo_refuses_to_start_without_a_database(tmp_path):
    result = subprocess.run(
        [sys.executable, "app.py", "--demo", "--home", str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2
    assert "--demo shows an existing database" in result.stderr and "nover_ui.db does not exist" in result.stderr
    assert not (tmp_path / "nover_ui.db").exists()
