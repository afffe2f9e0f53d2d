import re

from playwright.sync_api import expect

from nover_ui.runs_table import ETA_COLUMN
from storage import Store
from tests.browser.conftest import select_run


def shows(locator, text: str) -> None:
    """Wait until `text` is visible inside `locator` (a cell may nest several elements holding it)."""
    locator.get_by_text(text, exact=True).filter(visible=True).first.wait_for(timeout=30_000)


def run_row(page, name: str):
    return page.locator("#runs-table [role=row]").filter(has_text=name).filter(visible=True).first


def test_runs_tab_lists_runs_live_and_shows_names_as_text(running_app, app_home, page, artifacts):
    store = Store(f"sqlite:///{app_home / 'nover_ui.db'}")
    hostile = store.create_run("<img src=x onerror=alert(1)><b>bold</b>", {"max_steps": 5})
    page.goto(running_app)
    page.get_by_role("tab", name="Runs").click()
    table = page.locator("#runs-table")
    shows(table, "<img src=x onerror=alert(1)><b>bold</b>")
    assert table.locator("img").count() == 0 and table.locator("b").count() == 0

    # A run queued after the page loaded appears without a reload, and a status change shows up.
    later = store.create_run("arrived later", {"max_steps": 5})
    shows(table, "arrived later")
    store.claim_next_run("browser-test-worker")  # claims the oldest: the hostile one
    store.heartbeat(hostile.id, step=2, total_steps=5)
    shows(table, "2/5 (40%)")
    shows(table, "browser-test-worker")
    page.screenshot(path=str(artifacts / "runs-tab.png"), full_page=True)

    # What a starting run does shows beside its status; then its steps flow, and the filter narrows the table.
    store.set_phase(hostile.id, "converting the model")
    shows(table, "running · converting the model")
    store.set_phase(hostile.id, None)
    store.log_step(hostile.id, 3, {"step_time": 400.0, "reward": 0.25}, total_steps=5, heartbeat=True)
    shows(table, "3/5 (60%)")
    shows(table, "0.250")
    page.locator("#runs-filter textarea, #runs-filter input").first.fill("ARRIVED")
    expect(table.locator("[role=row]").filter(has_text="onerror")).to_have_count(0)
    shows(table, "arrived later")
    page.locator("#runs-filter textarea, #runs-filter input").first.fill("")
    shows(table, "<img src=x onerror=alert(1)><b>bold</b>")

    page.reload()
    page.get_by_role("tab", name="Runs").click()
    table = page.locator("#runs-table")
    shows(table, "arrived later")
    assert later.status == "queued"

    # The ETA (2 steps of 400 s) counts down in the browser alone: with the server cut off, it still moves.
    eta = run_row(page, "onerror").locator(f'[role=gridcell][data-col="{ETA_COLUMN}"]')
    expect(eta).to_have_text(re.compile(r"1[23]m \d\ds"))
    before = eta.inner_text()
    page.route("**/gradio_api/**", lambda route: route.abort())
    expect(eta).not_to_have_text(before, timeout=10_000)
    expect(eta).to_have_text(re.compile(r"1[23]m \d\ds"))


def test_one_click_selects_a_run_and_the_selection_survives_the_redraws(running_app, app_home, page):
    store = Store(f"sqlite:///{app_home / 'nover_ui.db'}")
    watched = store.start_run(store.create_run("watched", {}).id, "w")
    store.create_run("other", {})
    page.goto(running_app)
    page.get_by_role("tab", name="Runs").click()
    table, selected = page.locator("#runs-table"), page.locator("#selected-run input")
    shows(table, "watched")
    select_run(page, "watched")  # clicks once
    expect(run_row(page, "watched")).to_have_attribute("data-nover-selected", "1")
    expect(run_row(page, "other")).not_to_have_attribute("data-nover-selected", "1")
    expect(page.locator("#cancel-run")).to_be_enabled()
    expect(page.locator("#delete-run")).to_be_disabled()

    store.heartbeat(watched.id, step=1, total_steps=4)
    shows(table, "1/4 (25%)")
    expect(selected).to_have_value(str(watched.id))
    store.finish_run(watched.id, "failed", "RuntimeError: late failure")
    shows(table, "failed")
    expect(page.locator("#run-error textarea")).to_have_value("RuntimeError: late failure")  # redrawn with the table
    expect(selected).to_have_value(str(watched.id))
    expect(run_row(page, "watched")).to_have_attribute("data-nover-selected", "1")  # still highlighted
    expect(page.locator("#cancel-run")).to_be_disabled()  # the buttons follow the run's new status
    expect(page.locator("#delete-run")).to_be_enabled()
