from playwright.sync_api import expect

from storage import Store
from tests.browser.conftest import select_run


def shows(locator, text: str) -> None:
    """Wait until `text` is visible inside `locator` (a cell may nest several elements holding it)."""
    locator.get_by_text(text, exact=True).filter(visible=True).first.wait_for(timeout=30_000)


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

    page.reload()
    page.get_by_role("tab", name="Runs").click()
    table = page.locator("#runs-table")
    shows(table, "arrived later")
    assert later.status == "queued"


def test_one_click_selects_a_run_and_the_selection_survives_the_redraws(running_app, app_home, page):
    store = Store(f"sqlite:///{app_home / 'nover_ui.db'}")
    watched = store.start_run(store.create_run("watched", {}).id, "w")
    store.create_run("other", {})
    page.goto(running_app)
    page.get_by_role("tab", name="Runs").click()
    table, selected = page.locator("#runs-table"), page.locator("#selected-run input")
    shows(table, "watched")
    select_run(page, "watched")  # clicks once

    store.heartbeat(watched.id, step=1, total_steps=4)
    shows(table, "1/4 (25%)")
    expect(selected).to_have_value(str(watched.id))
    store.finish_run(watched.id, "failed", "RuntimeError: late failure")
    shows(table, "failed")
    expect(page.locator("#run-error textarea")).to_have_value("RuntimeError: late failure")  # redrawn with the table
    expect(selected).to_have_value(str(watched.id))
