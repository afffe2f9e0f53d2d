"""The Runs tab's export in Chromium: the downloaded file is one that `app.py --import` reads back."""

import subprocess
import sys

from storage import Store
from tests.browser.conftest import ROOT, select_run
from tests.helpers import step_rows


def test_export_downloads_a_file_that_import_reads_back(running_app, app_home, page, tmp_path):
    store = Store(f"sqlite:///{app_home / 'nover_ui.db'}")
    run = store.create_run("to export", {"max_steps": 2})
    for step in (1, 2):
        store.log_step(run.id, step, {"reward": step / 2}, step_rows())
    page.goto(running_app)
    page.get_by_role("tab", name="Runs").click()
    select_run(page, "to export")
    with page.expect_download() as download:
        page.locator("#export-run").click()
        page.locator("#run-export a[download]").click()
    assert download.value.suggested_filename == f"run-{run.id}.zip"
    archive = tmp_path / "downloaded.zip"
    download.value.save_as(archive)

    other = tmp_path / "other-home"
    done = subprocess.run(
        [sys.executable, "app.py", "--home", str(other), "--import", str(archive)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    imported = Store(f"sqlite:///{other / 'nover_ui.db'}")
    new_id = int(done.stdout)
    assert imported.get_run(new_id).name == "to export"
    assert len(imported.get_rollouts(new_id)) == 32
    assert imported.get_metrics(new_id)["reward"].values == (0.5, 1.0)
