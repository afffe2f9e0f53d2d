"""The Runs tab's export and import in Chromium: the downloaded file is one that `app.py --import` reads back, and
an uploaded zip of a TRL output folder is listed as a run."""

import subprocess
import sys

from playwright.sync_api import expect

from storage import Store
from tests.browser.conftest import ROOT, select_run
from tests.helpers import step_rows
from tests.nover_ui.test_trl_import import zipped


def test_export_downloads_a_file_that_import_reads_back(running_app, app_home, page, tmp_path, trl_output):
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

    # The Import accordion, on the same page: a zipped TRL run is stored and listed (the table redraws by itself).
    page.locator("#run-import").get_by_text("Import", exact=True).click()
    page.locator("#run-import-file input[type=file]").set_input_files(
        str(zipped(trl_output, tmp_path / "grpo-run.zip"))
    )
    expect(page.locator("#run-import-result")).to_contain_text("Imported as run #2 (grpo-run).", timeout=60_000)
    expect(page.locator("#runs-table [role=gridcell]").get_by_text("grpo-run", exact=True).first).to_be_visible()
