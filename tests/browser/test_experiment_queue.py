"""An experiment queued from the Train tab in Chromium, found in the Runs table by its filter, and one of its runs
tagged. No worker: the runs stay queued, which is all this shows."""

import re

from playwright.sync_api import expect

from storage import Store
from tests.browser.conftest import select_run


def test_queue_a_two_run_experiment_filter_the_runs_by_it_and_tag_one(running_app, app_home, page, artifacts):
    store = Store(f"sqlite:///{app_home / 'nover_ui.db'}")
    store.create_run("lone run", {})
    page.goto(running_app)
    page.get_by_text("Held-out evaluation", exact=True).click()
    page.locator("#field-eval_steps input").fill("2")
    page.get_by_text("Experiment: compare recipes, values and seeds").click()
    page.get_by_label("Experiment name").fill("browser cmp")
    recipes = page.locator("#experiment-recipes")
    recipes.get_by_label("nover", exact=True).check()
    recipes.get_by_label("rlpr", exact=True).check()
    expect(page.locator("#experiment-size")).to_contain_text("2 run(s) (2 recipes x 1 seed(s); cap 24)")
    page.locator("#queue-experiment").click()
    expect(page.locator("#experiment-status")).to_contain_text(re.compile(r"Queued experiment #1 \(browser cmp\)"))
    assert [run.name for run in store.experiment_runs(1)] == ["browser cmp · nover", "browser cmp · rlpr"]

    page.get_by_role("tab", name="Runs").click()

    def cell(text: str):
        return page.locator("#runs-table [role=gridcell]").get_by_text(text, exact=True).filter(visible=True)

    expect(cell("lone run")).to_have_count(1)
    page.locator("#runs-experiment input").click()
    page.get_by_role("option", name="#1 browser cmp").click()
    expect(cell("lone run")).to_have_count(0)
    expect(cell("browser cmp · rlpr")).to_have_count(1)

    select_run(page, "browser cmp · nover")
    expect(page.locator("#run-name textarea, #run-name input").first).to_have_value("browser cmp · nover")
    page.locator("#run-tags textarea, #run-tags input").first.fill("baseline, <b>keep</b>")
    page.locator("#save-tags").click()
    expect(page.locator("#run-notes-status")).to_contain_text("Saved the tags of run #2.")
    assert store.get_run(2).tags == ("baseline", "<b>keep</b>")
    expect(cell("baseline, <b>keep</b>")).to_have_count(1)  # as text, never markup
    page.screenshot(path=str(artifacts / "experiment-queue.png"), full_page=True)
