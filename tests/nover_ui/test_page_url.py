"""A link's query (?tab=traces&run=3&step=2) opens that view, checked part by part (parse_view: page_url's doctests)."""

import gradio as gr
import pytest
from starlette.requests import Request

from nover_ui.compare_tab import build_compare
from nover_ui.evaluate_tab import build_evaluate
from nover_ui.events import COMPARE, EVALUATE, EXPERIMENTS, METRICS, RUNS, TRACES, TRAIN
from nover_ui.experiments_tab import build_experiments
from nover_ui.metrics_tab import build_metrics
from nover_ui.page_url import parse_view, url_script
from nover_ui.page_url_events import TABS, LinkedViews, open_link, wire_page_url
from nover_ui.runs_tab import build_runs
from nover_ui.traces_tab import build_traces
from nover_ui.train_tab import build_train
from tests.helpers import rollout_row
from tests.nover_ui.tab_fixtures import dashboard


@pytest.fixture(scope="module")
def views(tmp_path_factory):
    """Every linked tab built inside one page, as app.py builds them (the store is handed to each handler call)."""
    from storage import Store

    home = tmp_path_factory.mktemp("home")
    board = dashboard(Store(f"sqlite:///{home / 'build.db'}"), home)
    with gr.Blocks() as app:
        with gr.Tabs() as tabs:
            items = {}
            with gr.Tab("Train", id=TRAIN) as items[TRAIN]:
                train = build_train(board)
            with gr.Tab("Runs", id=RUNS) as items[RUNS]:
                runs = build_runs(board, train, tabs)
            with gr.Tab("Metrics", id=METRICS) as items[METRICS]:
                metrics = build_metrics(board.store, items[METRICS])
            with gr.Tab("Traces", id=TRACES) as items[TRACES]:
                traces = build_traces(board.store, items[TRACES])
            with gr.Tab("Compare", id=COMPARE) as items[COMPARE]:
                compare = build_compare(board.store, items[COMPARE])
            with gr.Tab("Experiments", id=EXPERIMENTS) as items[EXPERIMENTS]:
                experiments = build_experiments(board.store, items[EXPERIMENTS])
            with gr.Tab("Evaluate", id=EVALUATE) as items[EVALUATE]:
                evaluate = build_evaluate(board, items[EVALUATE])
        linked = LinkedViews(tabs, runs, metrics, traces, compare, evaluate, experiments)
        wire_page_url(app, board.store, linked, items, timers_of(linked))
    return linked


def timers_of(views: LinkedViews) -> dict:
    return {RUNS: views.runs.refresh_timer, METRICS: views.metrics.poll_timer, EVALUATE: views.evaluate.timer}


def opened(store, views, query: str):
    scope = {"type": "http", "method": "GET", "path": "/", "headers": [], "query_string": query.encode()}
    return open_link(gr.Request(request=Request(scope)), store=store, views=views, timers=timers_of(views))


def test_a_link_opens_its_tab_with_its_run_and_step(store, views):
    run = store.start_run(store.create_run("linked", {}).id, "w")
    for step in (1, 2, 3):
        store.log_step(run.id, step, rollouts=[rollout_row(0, 0, reasoning=f"reasoning of step {step}")])
    shown = opened(store, views, f"tab=traces&run={run.id}&step=2")
    assert shown[views.tabs].selected == TRACES
    assert (shown[views.traces.run_dd]["value"], shown[views.traces.step_sl]["value"]) == (run.id, 2)
    assert "reasoning of step 2" in shown[views.traces.traces_html]
    assert opened(store, views, f"tab=runs&run={run.id}")[views.runs.run_nb] == run.id
    assert opened(store, views, f"tab=metrics&run={run.id}")[views.metrics.runs_dd]["value"] == [run.id]
    assert opened(store, views, f"tab=evaluate&run={run.id}")[views.evaluate.run_dd]["value"] == run.id
    compared = opened(store, views, f"tab=compare&run={run.id}")
    assert compared[views.compare.run_dd]["value"] == run.id
    assert compared[views.compare.prompt_dd]["value"] is not None  # opened on its prompt, not on nothing
    assert (compared[views.compare.left.step_dd]["value"], compared[views.compare.right.step_dd]["value"]) == (1, 3)
    # A linked tab opens without a select event: its poll starts here, the others stop (visible_polls).
    for tab, polling in ((METRICS, {views.metrics.poll_timer}), (TRACES, set())):
        shown = opened(store, views, f"tab={tab}")
        assert {timer for timer in timers_of(views).values() if shown[timer].active} == polling


def test_a_link_opens_its_experiment_and_an_unknown_one_opens_the_newest(store, views):
    old = store.create_experiment("old", {}, [("a", {"seed": 1})])
    new = store.create_experiment("new", {}, [("b", {"seed": 1})])
    shown = opened(store, views, f"tab=experiments&experiment={old.id}")
    assert shown[views.tabs].selected == EXPERIMENTS
    assert shown[views.experiments.experiment_dd]["value"] == old.id
    for wrong in ("99", "0", "1.5", "x"):
        assert (
            opened(store, views, f"tab=experiments&experiment={wrong}")[views.experiments.experiment_dd]["value"]
            == new.id
        )
    script = url_script(EXPERIMENTS, experiment=True)
    assert script.startswith("(experiment) =>") and "put('run', null," in script


@pytest.mark.parametrize(
    "query",
    ["", "tab=settings&run=1", "run=1&step=2", "tab=traces&run=99&step=2", "tab=traces&run=1.0", "tab=traces&run=-1"],
)
def test_what_a_link_names_wrongly_is_ignored(store, views, query):
    store.create_run("the only run", {})
    shown = opened(store, views, query)
    timers = set(timers_of(views).values())
    assert set(shown) <= {views.tabs, *timers}  # a known tab still opens (its poll with it); nothing else changes
    # Never {}: Gradio 6 fails an event whose handler returns an empty dict, and the URL then never follows.
    assert shown and all(update is not None for update in shown.values())
    selected = [update.selected for update in shown.values() if isinstance(update, gr.Tabs)]
    assert selected == ([TRACES] if "tab=traces" in query else [])


def test_every_part_of_the_query_is_checked_on_its_own():
    exists = {1}.__contains__
    assert parse_view({"tab": "traces", "run": "1", "step": "x"}, TABS, exists).step is None
    assert parse_view({"tab": "traces", "run": "1" * 13}, TABS, lambda _: True).run is None  # no huge int()
    assert parse_view({"tab": "traces", "run": "١"}, TABS, lambda _: True).run is None  # digits, but not ASCII
    script = url_script(TRAIN)
    assert script.startswith("() =>") and "put('run', null," in script  # a tab without a run drops it
