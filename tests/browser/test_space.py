"""The app started the way the Docker image starts it (NOVER_UI_PERSISTENT_DIR=/data, no --home): data under
the persistent folder when it exists, else a temporary folder and a warning on the page."""

import os
import subprocess
import sys
import urllib.request

from playwright.sync_api import expect

from tests.browser.conftest import ROOT
from tests.helpers import free_port, wait_for


def start_like_the_image(tmp_path, persistent):
    port = free_port()
    env = {
        **os.environ,
        "NOVER_UI_PERSISTENT_DIR": str(persistent),
        "TMPDIR": str(tmp_path / "tmp"),
        "NOVER_UI_PORT": str(port),
        "NOVER_UI_WORKERS": "0",
    }
    env.pop("NOVER_UI_HOME", None)
    (tmp_path / "tmp").mkdir(exist_ok=True)
    log = open(tmp_path / "app.log", "w")
    proc = subprocess.Popen([sys.executable, "app.py"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"

    def up() -> bool:
        try:
            with urllib.request.urlopen(url, timeout=2):
                return True
        except OSError:
            return proc.poll() is not None

    wait_for(up, 90, "the app to serve")
    assert proc.poll() is None, (tmp_path / "app.log").read_text()
    return proc, url


def stop(proc) -> None:
    proc.terminate()
    proc.wait(timeout=60)


def test_without_persistent_storage_the_page_warns_and_with_it_data_persists(tmp_path, page):
    data = tmp_path / "data"
    proc, url = start_like_the_image(tmp_path, data)
    try:
        page.goto(url)
        warning = page.locator(".block.nover-notice")
        expect(warning).to_contain_text("Nothing persists")
        expect(warning).to_contain_text(str(data))
        assert (tmp_path / "tmp" / "nover_ui" / "nover_ui.db").is_file()
    finally:
        stop(proc)

    data.mkdir()
    proc, url = start_like_the_image(tmp_path, data)
    try:
        page.goto(url)
        expect(page.locator("#queue-run")).to_be_visible()
        expect(page.locator(".block.nover-notice")).to_have_count(0)
        assert (data / "nover_ui" / "nover_ui.db").is_file()
    finally:
        stop(proc)
