"""The Metrics tab's handlers and the chart click that opens Traces, on a real SQLite store."""

import gradio as gr
import pytest

from nover_ui.metrics_cache import SeriesCache
from nover_ui.metrics_tab import MAX_CHARTS, draw, poll_steps, refresh_choices
from nover_ui.run_signal import SignalSeen
from tests.helpers import rollout_row
from tests.nover_ui.tab_fixtures import build_tabs


@pytest.fixture
def metrics(store, tmp_path):
    return build_tabs(store, tmp_path).metrics


def drawn(store, metrics, run_ids, log_y=False, seen=None):
    return draw(run_ids, 0.0, "step", log_y, store=store, cache=SeriesCache(), seen=seen or SignalSeen(), tab=metrics)


def test_the_run_list_keeps_the_chosen_runs_and_opens_on_the_newest(store, metrics):
    old = store.create_run("old", {})
    new = store.create_run("new", {})
    assert refresh_choices(None, store=store, tab=metrics)[metrics.runs_dd]["value"] == [new.id]
    kept = refresh_choices([old.id, 99], store=store, tab=metrics)[metrics.runs_dd]
    assert kept["value"] == [old.id]  # run 99 is gone
    assert kept["choices"] == [(f"#{new.id} new (queued)", new.id), (f"#{old.id} old (queued)", old.id)]


def test_the_poll_reads_only_steps_and_the_charts_redraw_as_asked(store, metrics):
    run = store.start_run(store.create_run("r", {}).id, "w")
    store.log_step(run.id, 1, metrics={"reward": 0.5, "loss": 0.1, "kl": 0.0}, heartbeat=True)
    store.log_step(run.id, 2, metrics={"reward": 0.7, "loss": 0.3, "kl": 0.0}, heartbeat=True)
    assert poll_steps([run.id], store=store, tab=metrics) == {metrics.steps_state: {run.id: 2}}
    shown = drawn(store, metrics, [run.id])
    assert shown[metrics.empty_md]["visible"] is False
    header = shown[metrics.header_plot]
    assert header["visible"] is True and [a.text for a in header["value"].layout.annotations] == ["reward (total)"]
    assert [shown[plot]["visible"] for plot in metrics.plots] == [True] + [False] * (MAX_CHARTS - 1)
    assert shown[metrics.plots[0]]["label"] == "loss"
    # kl never moved: folded, with its value, and the section's open state is left to the person.
    assert shown[metrics.flat_acc] == {"__type__": "update", "label": "Flat or empty metrics (1): kl", "visible": True}
    assert "kl = 0 at every point" in shown[metrics.flat_md]["value"]
    logged = drawn(store, metrics, [run.id], log_y=True)
    assert logged[metrics.header_plot]["value"].layout.yaxis.type == "log"
    assert logged[metrics.plots[0]]["value"].layout.yaxis.type == "log"
    nothing = drawn(store, metrics, None)
    assert nothing[metrics.empty_md]["visible"] is True
    assert nothing[metrics.header_plot]["visible"] is False and nothing[metrics.flat_acc]["visible"] is False


def test_a_banner_names_each_selected_run_without_a_format_valid_rollout(store, metrics):
    stuck = store.start_run(store.create_run("*real* data", {}).id, "w")
    fine = store.start_run(store.create_run("demo", {}).id, "w")
    waiting = store.start_run(store.create_run("loading", {}).id, "w")
    for step in (1, 2):
        invalid = [rollout_row(0, s, format_valid=False, reward=0.0) for s in range(4)]
        store.log_step(stuck.id, step, metrics={"reward": 0.0}, rollouts=invalid)
        store.log_step(fine.id, step, metrics={"reward": 1.0}, rollouts=[rollout_row(0, 0), *invalid[1:]])
    seen = SignalSeen()
    banner = drawn(store, metrics, [stuck.id, fine.id, waiting.id], seen=seen)[metrics.banner_md]
    assert banner["visible"] is True
    text = banner["value"]
    assert text.startswith(f"Run #{stuck.id} \\*real\\* data: **No format-valid rollout in this run yet** (0 of 8")
    assert "format_example" in text and text.count("Run #") == 1  # the run with signal and the empty one: none
    assert fine in seen and stuck not in seen  # a run with signal is not read again
    clear = drawn(store, metrics, [fine.id, waiting.id], seen=seen)[metrics.banner_md]
    assert clear == {"__type__": "update", "value": "", "visible": False}


def test_held_out_curves_get_their_own_chart_and_a_click_on_a_point_shows_its_samples_escaped(store, metrics):
    from nover_ui.metrics_tab import show_heldout
    from nover_ui.traces_tab import open_clicked_point

    run = store.start_run(store.create_run("r", {"model": "m", "dataset": "builtin:demo"}).id, "w")
    store.log_step(run.id, 1, metrics={"reward": 0.5}, heartbeat=True)
    sample = dict(
        sample_index=0,
        prompt="<img src=x onerror=alert(1)> 2+2?",
        reference="4",
        completion="<think>x</think><answer><b>4</b></answer>",
        reasoning="x",
        answer="<b>4</b>",
        format_valid=True,
        perplexity=1.5,
        correct=True,
    )
    for step in (0, 2):
        store.record_heldout_evaluation(run.id, step, {"judge": "base"}, {"eval/format_valid": step / 4}, [sample])
    shown = drawn(store, metrics, [run.id])
    assert shown[metrics.eval_plot]["visible"] is True
    assert [a.text for a in shown[metrics.eval_plot]["value"].layout.annotations] == ["eval/format_valid"]
    assert [a.text for a in shown[metrics.header_plot]["value"].layout.annotations] == ["reward (total)"]

    click = f'{{"run": {run.id}, "key": "eval/format_valid", "step": 2}}'
    page = show_heldout(click, store=store, tab=metrics)[metrics.heldout_html]
    assert page["visible"] is True and "step 2" in page["value"]
    assert "&lt;img src=x onerror=alert(1)&gt;" in page["value"] and "<img" not in page["value"]
    assert "&lt;b&gt;4&lt;/b&gt;" in page["value"] and "correct" in page["value"]
    assert open_clicked_point(store, None, None, click) == gr.skip()  # stays on Metrics: Traces skips it
    missing = show_heldout(f'{{"run": {run.id}, "key": "eval/format_valid", "step": 5}}', store=store, tab=metrics)
    assert "no held-out evaluation at step 5" in missing[metrics.heldout_html]["value"]
    other = show_heldout(f'{{"run": {run.id}, "key": "reward", "step": 1}}', store=store, tab=metrics)
    assert other[metrics.heldout_html] is not None and "value" not in other[metrics.heldout_html]
