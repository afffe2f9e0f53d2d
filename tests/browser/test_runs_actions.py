"""The Runs tab's actions in Chromium: resume, clone into the Train form, delete with confirmation, each button
enabled only where its action applies."""

import re

from playwright.sync_api import expect

from storage import Store
from tests.browser.conftest import select_run


def test_resume_clone_and_delete(running_app, app_home, page, artifacts):
    store = Store(f"sqlite:///{app_home / 'nover_ui.db'}")
    crashed = store.start_run(store.create_run("crashed", {"max_steps": 30, "seed": 7}).id, "w")
    store.add_checkpoint(crashed.id, 10, str(app_home / "runs" / "1" / "checkpoint-10"))
    store.finish_run(crashed.id, "failed", "RuntimeError: out of memory\n\nTraceback (most recent call last): ...")
    busy = store.start_run(store.create_run("busy", {}).id, "w")
    page.goto(running_app)
    page.get_by_role("tab", name="Runs").click()

    select_run(page, "crashed")
    expect(page.locator("#run-error textarea")).to_have_value(re.compile("Traceback \\(most recent call last\\)"))
    page.get_by_role("button", name="Resume from last checkpoint").click()
    page.locator("#run-action").get_by_text("Queued run #3, resuming run #1").wait_for()
    resumed = store.get_run(3)
    assert (resumed.name, resumed.parent_id, resumed.status) == ("crashed (resumed from step 10)", 1, "queued")
    assert resumed.config == crashed.config

    page.get_by_role("tab", name="Runs").click()
    select_run(page, "crashed")
    page.locator("#clone-run").click()
    expect(page.get_by_label("Run name")).to_have_value("crashed (copy)")
    expect(page.locator("#field-max_steps input")).to_have_value("30")
    expect(page.locator("#field-seed input")).to_have_value("7")

    # Only the actions that apply to the selected run are enabled: a running run can be cancelled, not deleted.
    page.get_by_role("tab", name="Runs").click()
    select_run(page, "busy")
    expect(page.locator("#cancel-run")).to_be_enabled()
    expect(page.locator("#delete-run")).to_be_disabled()
    expect(page.locator("#resume-run")).to_be_disabled()
    assert store.get_run(busy.id).status == "running"

    select_run(page, "crashed (resumed from step 10)")
    expect(page.locator("#cancel-run")).to_be_enabled()  # queued
    expect(page.locator("#resume-run")).to_be_disabled()
    page.get_by_role("button", name="Delete…").click()
    page.get_by_text("with all its metrics, rollouts and evaluations", exact=False).wait_for()
    page.get_by_role("button", name="Keep it").click()
    assert [run.id for run in store.list_runs()] == [3, 2, 1]
    page.get_by_role("button", name="Delete…").click()
    page.get_by_role("button", name="Yes, delete it").click()
    page.locator("#run-action").get_by_text("Deleted run #3").wait_for()
    assert [run.id for run in store.list_runs()] == [2, 1]
    page.screenshot(path=str(artifacts / "runs-actions.png"), full_page=True)
