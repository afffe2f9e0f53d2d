"""Following one prompt of a real 2-step run: its two steps side by side, the reasoning diff, the token view."""

import re

from playwright.sync_api import expect

from storage import Store
from training.config import RunConfig
from training.flags import TagSettings, flags_of_step


def choose(page, dropdown_id: str, option: str) -> None:
    page.locator(f"#{dropdown_id} input").click()
    page.get_by_role("option", name=option).click()


def test_one_prompt_at_two_steps_with_diff_and_token_view(trained_app, app_home, page, artifacts):
    store = Store(f"sqlite:///{app_home / 'nover_ui.db'}")
    run = store.list_runs()[0]
    rollouts = store.get_rollouts(run.id)
    page.goto(trained_app)
    page.get_by_role("tab", name="Compare").click()
    expect(page.locator("#compare-run input")).to_have_value(re.compile("trained demo"))
    compare = page.locator("#compare")
    compare.get_by_text("right minus left", exact=False).wait_for(timeout=30_000)

    left_step, right_step = (page.locator(f"#compare-{side}-step input").input_value() for side in ("left", "right"))
    assert (left_step, right_step) == ("1", "2")  # the two sides open on two different steps
    # The prompt list says where each prompt recurs.
    expect(page.locator("#compare-prompt input")).to_have_value(re.compile(r"\(steps 1, 2\)$"))
    best = {step: max((r for r in rollouts if r.step == step), key=lambda r: r.reward) for step in (1, 2)}
    text = compare.inner_text()
    assert f"run {run.id} · step 1 · #{best[1].sample_index}" in text
    assert f"run {run.id} · step 2 · #{best[2].sample_index}" in text
    [prompt] = store.list_prompts(run.id)
    assert re.fullmatch(r"(row|prompt) \d+", prompt.data_row)  # kept by the worker: other runs find it by it
    assert f"Δ reward {best[2].reward - best[1].reward:+.3f}" in text
    assert compare.locator("del, ins").count() > 0 or best[1].reasoning == best[2].reasoning

    # The token view: one span per reference token, its hover text giving the gain.
    valid = next(r for r in (best[1], best[2]) if r.format_valid)
    tokens = compare.locator(".nover-tokens .text .tok")
    assert tokens.count() >= len(valid.extras["target_tokens"])
    assert re.search(r"gain [+-]\d", tokens.first.get_attribute("title"))

    # The prompt's history: best and mean reward and reasoning length at both steps.
    history = page.locator("#compare-history")
    history.locator(".scatterlayer .trace").first.wait_for()
    assert history.locator(".scatterlayer .trace").first.locator(".points path").count() == 2
    page.screenshot(path=str(artifacts / "tab-compare.png"), full_page=True)


def test_a_click_on_a_flag_chart_opens_that_step_in_traces_filtered(trained_app, app_home, page, artifacts):
    store = Store(f"sqlite:///{app_home / 'nover_ui.db'}")
    run = store.list_runs()[0]
    assert "flags/missing_tags" in store.get_metrics(run.id)  # written with the step, by the worker's sink
    page.goto(trained_app)
    page.get_by_role("tab", name="Metrics").click()
    chart = page.locator("[id^=metrics-chart-]").filter(has_text="flags/missing_tags")
    chart.locator(".scatterlayer .trace").first.wait_for(timeout=30_000)
    titles = chart.locator(".annotation-text").all_text_contents()
    subplot = titles.index("flags/missing_tags")
    point = chart.locator(".scatterlayer .trace").nth(subplot).locator(".points path").nth(1)  # step 2
    point.scroll_into_view_if_needed()
    box = point.bounding_box()
    page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)

    expect(page.get_by_role("tab", name="Traces")).to_have_attribute("aria-selected", "true", timeout=30_000)
    expect(page.locator("#traces-filter input[value='missing tags']")).to_be_checked()
    expect(page.locator("#traces-step input[type=number]")).to_have_value("2")
    step_2 = store.get_rollouts(run.id, step=2)
    # Stored by the worker as the step was written, with the run's own tags: what the page filters by.
    tags = TagSettings.of(RunConfig.from_dict(run.config))
    assert [list(r.flags) for r in step_2] == flags_of_step(step_2, tags) and tags.prefill == "<think>\n"
    flagged = [r for r in step_2 if "missing tags" in r.flags]
    assert store.get_metrics(run.id)["flags/missing_tags"].values[-1] == len(flagged)
    if flagged:
        expect(page.locator("#traces .nover-traces article")).to_have_count(len(flagged))
    else:
        page.locator("#traces").get_by_text("no rollouts match", exact=False).wait_for()
    page.screenshot(path=str(artifacts / "metrics-click-to-traces.png"), full_page=True)
