"""Following one prompt of a real 2-step run: its two steps side by side, the reasoning diff, the token view."""

import math
import re

import pytest
from playwright.sync_api import expect

from nover_ui.metric_layout import HEADER_KEYS
from nover_ui.traces_tab import filter_for_metric
from storage import Store
from tests.browser.conftest import serve
from tests.trained_run import copy_trained_db
from training.config import RunConfig
from training.flags import TagSettings, flags_of_step


@pytest.fixture(scope="module")
def app_home(tmp_path_factory):
    """One data directory for the module: its tests only read the trained run, so they share one app start."""
    return tmp_path_factory.mktemp("compare")


@pytest.fixture(scope="module")
def trained_app(trained_home, app_home):
    """conftest's trained_app, started once for the module's tests."""
    copy_trained_db(trained_home, app_home)
    yield from serve(app_home, "--workers", "0")


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


def test_metrics_shows_the_key_curves_folds_the_flat_keys_and_a_click_opens_traces_filtered(
    trained_app, app_home, page, artifacts
):
    store = Store(f"sqlite:///{app_home / 'nover_ui.db'}")
    run = store.list_runs()[0]
    metrics = store.get_metrics(run.id)  # written with the steps, by the worker's sink
    # Flat: one value at every step, up to float32 rounding (TRL logs float32 means).
    flat = sorted(
        key
        for key, series in metrics.items()
        if key not in HEADER_KEYS and all(math.isclose(v, series.values[0], rel_tol=1e-6) for v in series.values)
    )
    # A flag that moved between the two steps is drawn; which one depends on what the model wrote.
    key = next(k for k in sorted(metrics) if k.startswith("flags/") and k not in flat and filter_for_metric(k) != "all")
    label = filter_for_metric(key)
    page.goto(trained_app)
    page.get_by_role("tab", name="Metrics").click()

    # The header: the key curves first, titled by what they mean.
    header = page.locator("#metrics-chart-header")
    header.locator(".scatterlayer .trace").first.wait_for(timeout=30_000)
    assert header.locator(".annotation-text").all_text_contents() == [
        "reward (total)",
        "format-valid rate (rewards/format/mean)",
        "reference perplexity (nover/perplexity/mean)",
        "completion length (completions/mean_length)",
    ]
    # The keys that never moved are folded: named in the closed section's title, listed with their value inside.
    folded = page.locator("#metrics-flat")
    expect(folded).to_contain_text(f"Flat or empty metrics ({len(flat)})")
    expect(page.locator("#metrics-flat-list")).to_be_hidden()
    drawn = page.locator("[id^=metrics-chart-] .annotation-text").all_text_contents()
    assert key in drawn and not set(flat) & set(drawn)
    page.screenshot(path=str(artifacts / "tab-metrics-layout.png"), full_page=True)
    folded.get_by_text("Flat or empty metrics").click()
    listed = page.locator("#metrics-flat-list")
    expect(listed).to_contain_text(f"learning_rate = {metrics['learning_rate'].values[0]:.6g} at every point")
    assert all(name in listed.inner_text() for name in flat)
    # log y redraws the charts (rewards are above 0 here) and leaves the opened section open.
    y_type = "document.querySelector('#metrics-chart-header .js-plotly-plot').layout.yaxis.type === '{}'"
    page.locator("#metrics-log input").check()
    page.wait_for_function(y_type.format("log"), timeout=30_000)
    expect(listed).to_be_visible()
    page.locator("#metrics-log input").uncheck()
    page.wait_for_function(y_type.format("linear"), timeout=30_000)

    chart = page.locator("[id^=metrics-chart-]").filter(has_text=key)
    titles = chart.locator(".annotation-text").all_text_contents()
    subplot = titles.index(key)
    point = chart.locator(".scatterlayer .trace").nth(subplot).locator(".points path").nth(1)  # step 2
    point.scroll_into_view_if_needed()
    box = point.bounding_box()
    page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)

    expect(page.get_by_role("tab", name="Traces")).to_have_attribute("aria-selected", "true", timeout=30_000)
    expect(page.locator(f"#traces-filter input[value='{label}']")).to_be_checked()
    expect(page.locator("#traces-step input[type=number]")).to_have_value("2")
    step_2 = store.get_rollouts(run.id, step=2)
    # Stored by the worker as the step was written, with the run's own tags: what the page filters by.
    tags = TagSettings.of(RunConfig.from_dict(run.config))
    assert [list(r.flags) for r in step_2] == flags_of_step(step_2, tags) and tags.prefill == "<think>\n"
    flagged = [r for r in step_2 if label in r.flags]
    assert metrics[key].values[-1] == len(flagged)
    if flagged:
        expect(page.locator("#traces .nover-traces article")).to_have_count(len(flagged))
    else:
        page.locator("#traces").get_by_text("no rollouts match", exact=False).wait_for()
    page.screenshot(path=str(artifacts / "metrics-click-to-traces.png"), full_page=True)
