"""The whole dashboard in Chromium with a real worker training the default model on CPU.

Queue a 2-step cpu-demo run from the Train tab, follow it in Runs (through a page reload), read its reward
chart in Metrics and a rollout in Traces, then cancel a second run while it trains. Both runs are cut to 2 rollouts
of 16 tokens a step, typed into the form as a person would: a step of the preset's 8 x 64 costs several times more,
and what the flow shows (progress, reload, charts, cards, cancel) does not depend on the step's size.
"""

import re

from storage import Store
from tests.browser.conftest import select_run
from tests.browser.test_runs_tab import shows

TRAINING_TIMEOUT_MS = 600_000  # model load and two CPU steps, on a busy 2-core machine


TINY = {"num_generations": 2, "max_completion_length": 16}


def queue_from_train_tab(page, name: str, max_steps: int) -> None:
    page.get_by_role("tab", name="Train").click()
    if not page.locator("#field-num_generations input").is_visible():
        page.get_by_role("button", name="GRPO").click()  # the closed group that holds the TINY fields
    for field, value in {**TINY, "max_steps": max_steps}.items():
        page.locator(f"#field-{field} input").fill(str(value))
        page.locator(f"#field-{field} input").press("Tab")
    page.get_by_label("Run name").fill(name)
    page.locator("#queue-run").click()
    page.locator("#train-status").get_by_text(re.compile(rf"Queued run #\d+ \({name}\)")).wait_for()


def run_row(page, name: str):
    return page.locator("#runs-table [role=row]").filter(has_text=name).filter(visible=True).first


def test_queue_follow_inspect_and_cancel_runs(training_app, app_home, page, artifacts):
    store = Store(f"sqlite:///{app_home / 'nover_ui.db'}")
    page.goto(training_app)
    page.get_by_text("rollouts per step").first.wait_for()
    queue_from_train_tab(page, "browser demo", max_steps=2)
    page.screenshot(path=str(artifacts / "tab-train.png"), full_page=True)
    run = store.list_runs()[0]
    assert (run.name, run.config["max_steps"], run.config["format_example"]) == ("browser demo", 2, True)
    assert {field: run.config[field] for field in TINY} == TINY

    # Runs: it starts; a reload in the middle loses nothing and the run keeps progressing.
    page.get_by_role("tab", name="Runs").click()
    run_row(page, "browser demo").get_by_text("running").wait_for(timeout=TRAINING_TIMEOUT_MS)
    run_row(page, "browser demo").get_by_text("1/2 (50%)").wait_for(timeout=TRAINING_TIMEOUT_MS)
    page.reload()
    page.get_by_role("tab", name="Runs").click()
    shows(page.locator("#runs-table"), "browser demo")
    run_row(page, "browser demo").get_by_text("succeeded").wait_for(timeout=TRAINING_TIMEOUT_MS)
    assert "2/2" in run_row(page, "browser demo").inner_text()
    page.screenshot(path=str(artifacts / "tab-runs.png"), full_page=True)

    # Metrics: the newest run is selected; the reward chart has one point per step.
    page.get_by_role("tab", name="Metrics").click()
    reward_chart = page.locator("#metrics-chart-header")  # the key curves, reward first
    reward_chart.locator(".scatterlayer .trace").first.wait_for(timeout=30_000)
    assert "reward" in reward_chart.inner_text()
    first_trace_points = reward_chart.locator(".scatterlayer .trace").first.locator(".points path")
    assert first_trace_points.count() == 2
    page.screenshot(path=str(artifacts / "tab-metrics.png"), full_page=True)

    # Traces: the latest step's group, each rollout's reasoning and reward components.
    page.get_by_role("tab", name="Traces").click()
    cards = page.locator("#traces .nover-traces article")
    cards.first.wait_for(timeout=30_000)
    rollouts = store.get_rollouts(run.id, step=2)
    assert cards.count() == len(rollouts) == TINY["num_generations"]
    card_text = cards.first.inner_text()
    assert re.search(r"format [\d.]+ · reasoning [\d.]+ · efficiency [\d.]+", card_text)
    assert f"reward {rollouts[0].reward:.3f}" in card_text
    shown = (
        next(r for r in rollouts if r.format_valid and r.reasoning)
        if any(r.format_valid and r.reasoning for r in rollouts)
        else rollouts[0]
    )
    assert (shown.reasoning or shown.completion).strip()[:40] in page.locator("#traces").inner_text()
    page.screenshot(path=str(artifacts / "tab-traces.png"), full_page=True)

    # Cancel a run while it trains: it stops after its current step.
    queue_from_train_tab(page, "to cancel", max_steps=100)  # tiny steps are quick: far more than run before the cancel
    page.get_by_role("tab", name="Runs").click()
    run_row(page, "to cancel").get_by_text("running").wait_for(timeout=TRAINING_TIMEOUT_MS)
    select_run(page, "to cancel")
    page.locator("#cancel-run").click()
    page.locator("#run-action").get_by_text("Cancel requested").wait_for()
    run_row(page, "to cancel").get_by_text("cancelled").wait_for(timeout=TRAINING_TIMEOUT_MS)
    cancelled = store.list_runs()[0]
    assert (cancelled.name, cancelled.status) == ("to cancel", "cancelled") and cancelled.step < 100
