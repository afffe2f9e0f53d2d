"""Browser tests: the real app in a subprocess, driven by Debian's Chromium through Playwright."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.helpers import free_port, wait_for
from tests.trained_run import copy_trained_db

ROOT = Path(__file__).resolve().parents[2]
MODEL_HOME = ROOT / "test-artifacts" / "model-home" / "models"  # shared with tests/training
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def pytest_collection_modifyitems(items):
    for item in items:
        if "tests/browser/" in str(item.fspath):
            item.add_marker(pytest.mark.browser)


@pytest.fixture(scope="session")
def browser():
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI") == "true":
            pytest.fail(f"{CHROMIUM} is missing; .ci/run installs it with apt-get")
        pytest.skip("Chromium is not installed here (apt-get install -y chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    page = context.new_page()
    yield page
    context.close()


def start_app(home: Path, *args: str) -> tuple[subprocess.Popen, str]:
    port = free_port()
    # A log file, not a pipe: a worker's chatter would fill an unread pipe and block the process.
    with open(home / "app.log", "w") as log:
        proc = subprocess.Popen(
            [sys.executable, "app.py", "--port", str(port), "--home", str(home), *args],
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    return proc, f"http://127.0.0.1:{port}/"


@pytest.fixture
def app_home(tmp_path):
    return tmp_path


def serve(home: Path, *args: str):
    """Start the app over `home` and wait until it serves; yields its URL, stops it afterwards."""
    import urllib.request

    proc, url = start_app(home, *args)

    def up() -> bool:
        try:
            with urllib.request.urlopen(url, timeout=2):
                return True
        except OSError:
            return proc.poll() is not None  # stop waiting if it died; the assertion below says so

    wait_for(up, 90, "the app to serve")
    assert proc.poll() is None, (home / "app.log").read_text()
    yield url
    proc.terminate()
    proc.wait(timeout=60)
    shutil.rmtree(home / "runs", ignore_errors=True)


@pytest.fixture
def running_app(app_home):
    """The dashboard with no worker, over a database in app_home; yields its URL."""
    yield from serve(app_home, "--workers", "0")


@pytest.fixture
def training_app(app_home):
    """The dashboard with one training worker, sharing the tests' converted default model."""
    MODEL_HOME.mkdir(parents=True, exist_ok=True)
    (app_home / "models").symlink_to(MODEL_HOME, target_is_directory=True)
    yield from serve(app_home, "--workers", "1")


@pytest.fixture
def trained_app(trained_home, app_home):
    """The dashboard (no worker) over a copy of the trained run's database."""
    copy_trained_db(trained_home, app_home)
    yield from serve(app_home, "--workers", "0")


@pytest.fixture
def trained_app_with_worker(trained_home, app_home):
    """The same, with one worker to run evaluation and playground jobs (checkpoints stay in trained_home)."""
    copy_trained_db(trained_home, app_home)
    (app_home / "models").symlink_to(MODEL_HOME, target_is_directory=True)
    yield from serve(app_home, "--workers", "1")


def select_run(page, name: str) -> None:
    """Click a run's name in the Runs table once and wait until the app has selected that row. One click is
    enough: the table redraws only when the runs change, never under a click."""
    cell = page.locator("#runs-table [role=gridcell]").get_by_text(name, exact=True).filter(visible=True).first
    run_id = cell.locator("xpath=ancestor::*[@role='row'][1]").locator("[role=gridcell]").first.inner_text().strip()
    cell.click()
    expect(page.locator("#selected-run input")).to_have_value(run_id)
