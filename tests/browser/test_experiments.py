"""The Experiments tab over a stored experiment of 2 variants x 2 seeds (eval/* metrics logged by hand, no
training): the table's cells, the interval note, the diff and a drawn curve; names stay text."""

from playwright.sync_api import expect

from nover_ui.experiment_view import INTERVAL_NOTE
from storage import Store
from tests.experiment_data import store_experiment

HOSTILE = '<a href="https://evil.example/x">rlpr two</a>'


def cell(table, text: str, exact: bool = True):
    """The table's cell that holds `text` (Gradio renders a cell's text twice: shown, and its editor's copy)."""
    return table.locator("[role=gridcell]").get_by_text(text, exact=exact).filter(visible=True).first


def test_an_experiment_shows_its_table_diff_and_curves(running_app, app_home, page, artifacts):
    store = Store(f"sqlite:///{app_home / 'nover_ui.db'}")
    stored = store_experiment(store, "recipes")
    renamed = store.rename_run(stored.runs[("rlpr", 2)].id, HOSTILE)
    page.goto(running_app)
    page.get_by_role("tab", name="Experiments").click()
    expect(page.locator("#experiment-pick input")).to_have_value(f"#{stored.experiment.id} recipes (4 runs)")

    table = page.locator("#experiment-table")
    expect(cell(table, "0.625 ± 1.59 (n=2)", exact=True)).to_be_visible(timeout=30_000)
    expect(cell(table, "reward=rlpr", exact=True)).to_be_visible()
    expect(cell(table, "2.25 ± 3.18 (n=2)", exact=True)).to_be_visible()  # best perplexity: the lowest
    expect(cell(table, "running (step 2/4)", exact=False)).to_be_visible()
    expect(page.locator("#experiment-note")).to_contain_text("95% Student-t interval over seeds (n per row)")
    assert INTERVAL_NOTE.startswith("95% Student-t interval over seeds (n per row)")

    diff = page.locator("#experiment-diff")
    expect(cell(diff, "reward", exact=True)).to_be_visible()
    expect(cell(diff, "seed", exact=True)).to_be_visible()
    # The run's name heads its column as its characters.
    expect(diff.locator("[role=columnheader]").filter(has_text=f"#{renamed.id} {HOSTILE}").first).to_be_visible()
    assert page.locator("a[href*='evil.example']").count() == 0

    curve = page.locator("#experiment-curve-0")
    expect(curve.locator(".scatterlayer .trace")).to_have_count(4, timeout=30_000)  # 2 variants x 2 seeds
    expect(curve.get_by_text("eval/format_valid (higher is better)")).to_be_visible()
    page.screenshot(path=str(artifacts / "experiments-tab.png"), full_page=True)

    # The URL names the experiment; a link to it opens it even when a newer one exists.
    # replaceState moves no navigation, which Playwright's page.url may not see: wait on the page's own query.
    query = f"?tab=experiments&experiment={stored.experiment.id}"
    page.wait_for_function("query => window.location.search === query", arg=query, timeout=30_000)
    link = running_app + query
    newer = store.create_experiment("newer", {}, [("solo", {"seed": 3})])
    page.goto(link)
    expect(page.locator("#experiment-pick input")).to_have_value(f"#{stored.experiment.id} recipes (4 runs)")
    expect(cell(page.locator("#experiment-table"), "reward=nover")).to_be_visible(timeout=30_000)
    assert newer.id != stored.experiment.id
