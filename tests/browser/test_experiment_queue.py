"""An experiment from the Train tab to the Experiments tab, in Chromium with a real worker: 2 recipes x 1 seed, each
run 1 step of 2 rollouts x 16 tokens with held-out evaluation of 1 prompt at steps 0 and 1, queued from the form;
its runs found in the Runs table by their filter and one tagged while they train; then the Experiments tab's table
of held-out metrics and the diff of the fields that set the runs apart."""

import re

from playwright.sync_api import expect

from storage import Store
from tests.browser.conftest import select_run

TRAINING_TIMEOUT_MS = 900_000  # two runs: model loads, two CPU steps, four held-out evaluations on a busy machine
SMALL = {"num_generations": 2, "max_completion_length": 16, "max_steps": 1}
HELD_OUT = {"eval_steps": 1, "eval_prompts": 1, "eval_samples": 1}
"""The fewest that still show the flow: one step is the last step, so eval_steps 1 evaluates the base model at step 0
and the trained one at step 1 (two points per curve); one held-out prompt with one sample scores each."""


def fill_fields(page, group: str, values: dict) -> None:
    first = next(iter(values))
    if not page.locator(f"#field-{first} input").is_visible():
        page.get_by_role("button", name=group).click()  # the closed form group that holds these fields
    for field, value in values.items():
        page.locator(f"#field-{field} input").fill(str(value))
        page.locator(f"#field-{field} input").press("Tab")


def cell(table, text: str, exact: bool = True):
    return table.locator("[role=gridcell]").get_by_text(text, exact=exact).filter(visible=True)


def test_an_experiment_queued_from_the_form_trains_and_compares_its_recipes(training_app, app_home, page, artifacts):
    store = Store(f"sqlite:///{app_home / 'nover_ui.db'}")
    store.create_run("lone run", {"max_steps": 0})  # refused by the worker at once; only the filter needs it
    page.goto(training_app)
    page.get_by_text("rollouts per step").first.wait_for()
    fill_fields(page, "GRPO", {"num_generations": 2, "max_completion_length": 16})
    fill_fields(page, "Run length", {"max_steps": SMALL["max_steps"]})
    fill_fields(page, "Held-out evaluation", HELD_OUT)
    page.get_by_text("Experiment: compare recipes, values and seeds").click()
    page.get_by_label("Experiment name").fill("browser cmp")
    recipes = page.locator("#experiment-recipes")
    recipes.get_by_label("nover", exact=True).check()
    recipes.get_by_label("rlpr", exact=True).check()
    expect(page.locator("#experiment-size")).to_contain_text("2 run(s) (2 recipes x 1 seed(s); cap 24)")
    page.locator("#queue-experiment").click()
    expect(page.locator("#experiment-status")).to_contain_text(re.compile(r"Queued experiment #1 \(browser cmp\)"))
    runs = store.experiment_runs(1)
    assert [run.name for run in runs] == ["browser cmp · nover", "browser cmp · rlpr"]
    assert [run.config["reward"] for run in runs] == ["nover", "rlpr"]
    for run in runs:
        assert {key: run.config[key] for key in {**SMALL, **HELD_OUT}} == {**SMALL, **HELD_OUT}

    page.get_by_role("tab", name="Runs").click()
    runs_table = page.locator("#runs-table")
    expect(cell(runs_table, "lone run")).to_have_count(1)
    page.locator("#runs-experiment input").click()
    page.get_by_role("option", name="#1 browser cmp").click()
    expect(cell(runs_table, "lone run")).to_have_count(0)
    expect(cell(runs_table, "browser cmp · rlpr")).to_have_count(1)
    select_run(page, "browser cmp · nover")
    expect(page.locator("#run-name textarea, #run-name input").first).to_have_value("browser cmp · nover")
    page.locator("#run-tags textarea, #run-tags input").first.fill("baseline, <b>keep</b>")
    page.locator("#save-tags").click()
    expect(page.locator("#run-notes-status")).to_contain_text(f"Saved the tags of run #{runs[0].id}.")
    assert store.get_run(runs[0].id).tags == ("baseline", "<b>keep</b>")
    expect(cell(runs_table, "baseline, <b>keep</b>")).to_have_count(1)  # as text, never markup
    page.screenshot(path=str(artifacts / "experiment-queue.png"), full_page=True)

    for run in runs:  # the worker trains them one after the other
        expect(runs_table.locator("[role=row]").filter(has_text=run.name).filter(visible=True).first).to_contain_text(
            "succeeded", timeout=TRAINING_TIMEOUT_MS
        )
    for run in runs:
        evaluated = store.get_metrics(run.id, keys=["eval/format_valid"])["eval/format_valid"]
        assert evaluated.steps == (0, 1)  # the base model at step 0, the trained one at the last step
        assert store.heldout_evaluation(run.id, 1) is not None

    page.get_by_role("tab", name="Experiments").click()
    expect(page.locator("#experiment-pick input")).to_have_value("#1 browser cmp (2 runs)")
    table = page.locator("#experiment-table")
    expect(cell(table, "reward=nover", exact=False)).to_have_count(1, timeout=30_000)
    expect(cell(table, "reward=rlpr", exact=False)).to_have_count(1)
    expect(table.locator("[role=columnheader]").filter(has_text="eval/format_valid final").first).to_be_visible()
    expect(cell(table, "(n=1, no interval)", exact=False).first).to_be_visible()
    diff = page.locator("#experiment-diff")
    for field in ("reward", "reward_scorer", "reward_shaping", "format_weight"):
        expect(cell(diff, field)).to_have_count(1)
    expect(cell(diff, "seed")).to_have_count(0)  # one seed: the runs share it
    expect(page.locator("#experiment-curve-0 .scatterlayer .trace")).to_have_count(2, timeout=30_000)
    page.screenshot(path=str(artifacts / "experiment-trained.png"), full_page=True)
