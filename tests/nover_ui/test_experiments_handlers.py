"""The Experiments tab's handlers on a real SQLite store: the list, the cheap version and the redraw."""

import pytest

from nover_ui.experiments_tab import MAX_CURVES, build_experiments, draw, poll_version, refresh_choices
from tests.experiment_data import store_experiment
from tests.nover_ui.tab_fixtures import built


@pytest.fixture
def tab(store):
    return built(build_experiments, store)


def test_the_list_opens_on_the_newest_experiment_and_keeps_a_choice(store, tab):
    assert refresh_choices(None, store=store, tab=tab)[tab.empty_md]["visible"] is True
    old = store_experiment(store, "old").experiment
    new = store.create_experiment("new", {}, [("a", {"seed": 1})])
    shown = refresh_choices(None, store=store, tab=tab)
    assert shown[tab.experiment_dd]["choices"] == [
        (f"#{new.id} new (1 runs)", new.id),
        (f"#{old.id} old (4 runs)", old.id),
    ]
    assert shown[tab.experiment_dd]["value"] == new.id and shown[tab.empty_md]["visible"] is False
    assert refresh_choices(old.id, store=store, tab=tab)[tab.experiment_dd]["value"] == old.id


def test_the_version_moves_when_an_evaluation_lands_at_a_step_already_reported(store, tab):
    stored = store_experiment(store)
    experiment_id, running = stored.experiment.id, stored.runs[("rlpr", 1)].id
    before = poll_version(experiment_id, store=store, tab=tab)[tab.version_state]
    assert poll_version(experiment_id, store=store, tab=tab)[tab.version_state] == before  # nothing changed
    store.log_step(running, 3, metrics={"reward": 0.5}, heartbeat=True)  # a training step
    trained = poll_version(experiment_id, store=store, tab=tab)[tab.version_state]
    assert trained != before
    store.log_step(running, 3, metrics={"eval/format_valid": 0.5}, heartbeat=True)  # evaluated at that step
    assert poll_version(experiment_id, store=store, tab=tab)[tab.version_state] != trained


def test_draw_fills_the_table_the_curves_and_the_diff(store, tab):
    stored = store_experiment(store)
    shown = draw(stored.experiment.id, store=store, tab=tab)
    table = shown[tab.results_df]
    assert table["variant"].tolist() == ["reward=nover", "reward=rlpr"]
    assert table.loc[0, "eval/format_valid final"] == "0.625 ± 1.59 (n=2)"
    assert shown[tab.diff_df]["field"].tolist() == ["reward", "seed"]
    curves = [shown[plot] for plot in tab.curve_plots]
    assert [c["label"] for c in curves if c["visible"]] == [
        "eval/format_valid",
        "eval/perplexity",
        "eval/answer_length",
    ]
    assert len(curves) == MAX_CURVES
    assert draw(999, store=store, tab=tab)[tab.results_df] is None  # an experiment gone: an empty view, no error
