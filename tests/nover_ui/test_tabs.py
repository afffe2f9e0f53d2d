"""The tabs' Store-to-output functions, on a real SQLite store."""

from nover_ui.metrics_cache import SeriesCache
from nover_ui.metrics_tab import chart_updates
from nover_ui.runs_table import read_runs
from nover_ui.traces_tab import step_html
from tests.helpers import rollout_row, step_rows


def test_chart_updates_lay_out_the_key_curves_the_groups_and_the_flat_keys(store):
    first = store.start_run(store.create_run("first", {}).id, "w")
    second = store.start_run(store.create_run("second", {}).id, "w")
    for step in (1, 2):
        store.log_step(first.id, step, metrics={"reward": step, "rewards/format/mean": 0.5, "loss": 0.1 * step})
        store.log_step(second.id, step, metrics={"reward": -step, "learning_rate": 1e-5})
    charts = chart_updates(store, SeriesCache(), [first.id, second.id], smoothing=0.0, x_axis="step")
    assert [a.text for a in charts.header.layout.annotations] == [
        "reward (total)",
        "format-valid rate (rewards/format/mean)",
    ]
    reward_traces = [t for t in charts.header.data if t.meta["key"] == "reward"]
    assert sorted(t.name for t in reward_traces) == [f"#{first.id} first", f"#{second.id} second"]
    assert all(list(t.x) == [1, 2] for t in reward_traces)
    assert [group for group, _ in charts.groups] == ["loss"]
    assert [(flat.key, flat.value) for flat in charts.flat] == [("learning_rate", 1e-5)]
    assert charts.banners == ""  # no rollouts yet: nothing to judge
    empty = chart_updates(store, SeriesCache(), [], 0.0, "step")
    assert (empty.header, empty.groups, empty.flat) == (None, [], ())


def test_step_html_shows_only_the_chosen_step_of_the_chosen_run(store):
    run = store.start_run(store.create_run("r", {}).id, "w")
    other = store.start_run(store.create_run("other", {}).id, "w")
    store.log_step(run.id, 1, rollouts=[rollout_row(0, s, reasoning=f"step one thought {s}") for s in range(2)])
    store.log_step(run.id, 2, rollouts=[rollout_row(0, s, reasoning=f"step two thought {s}") for s in range(2)])
    store.log_step(other.id, 2, rollouts=[rollout_row(0, 0, reasoning="another run")])
    page = step_html(store, run.id, 2, "all", "sample")
    assert "step two thought 0" in page and "step two thought 1" in page
    assert "step one" not in page and "another run" not in page


def test_runs_table_has_eta_from_the_recent_step_times(store):
    run = store.start_run(store.create_run("r", {}).id, "w")
    store.log_step(run.id, 1, metrics={"step_time": 20.0}, rollouts=step_rows(1, 2), total_steps=10, heartbeat=True)
    store.log_step(run.id, 2, metrics={"step_time": 40.0}, rollouts=step_rows(1, 2), total_steps=10, heartbeat=True)
    landed = store.latest_metrics([run.id], "step_time")[run.id].wall_times[-1]
    view = read_runs(store, now=landed + 15)  # 8 steps left at 30 s, the current one 15 s under way
    row = view.frame.iloc[0]
    assert (row["progress"], row["step time"], row["ETA"]) == ("2/10 (20%)", "30.0 s", "3m 45s")
    assert view.eta_s == {run.id: 225.0}
