"""The page's URL names its tab, run and step: a link opens that view, and the URL follows what is picked."""

import re

from playwright.sync_api import expect

from storage import Store


def test_a_link_opens_its_tab_run_and_step_and_the_url_follows_the_view(trained_app, app_home, page):
    run = Store(f"sqlite:///{app_home / 'nover_ui.db'}").list_runs()[0]
    # Step 1, not the run's last step (2), which Traces would show anyway: the link must be what chose it.
    page.goto(f"{trained_app}?tab=traces&run={run.id}&step=1")
    expect(page.get_by_role("tab", name="Traces")).to_have_attribute("aria-selected", "true", timeout=30_000)
    expect(page.locator("#traces-run input")).to_have_value(re.compile("trained demo"))
    expect(page.locator("#traces-step input[type=number]")).to_have_value("1")
    expect(page.locator("#traces .nover-traces article").first).to_be_visible()

    page.locator("#traces-latest").click()
    query_is(page, f"?tab=traces&run={run.id}&step=2")
    page.get_by_role("tab", name="Runs").click()
    query_is(page, "?tab=runs")  # no run picked here yet: the link names none
    page.locator("#runs-table [role=gridcell]").get_by_text("trained demo", exact=True).first.click()
    query_is(page, f"?tab=runs&run={run.id}")
    page.get_by_role("tab", name="Train").click()
    query_is(page, "?tab=train")


def query_is(page, query: str) -> None:
    """Wait for the page's own query: replaceState moves no navigation, which Playwright's page.url may not see."""
    page.wait_for_function("query => window.location.search === query", arg=query, timeout=30_000)
