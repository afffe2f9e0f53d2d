"""Metric summaries: written as steps land, filled by the migration for old rows, read at the level that fits."""

import math

from sqlalchemy import create_engine, select, text

from storage import Status, Store
from storage.models import MetricSummary
from storage.summaries import LEVELS, summarise
from tests.storage.old_schema import old_run

SMALL_LEVELS = (2, 8)


def stored_summaries(store: Store) -> list[tuple]:
    with store._engine.connect() as connection:
        return sorted(tuple(row) for row in connection.execute(select(MetricSummary.__table__)))


def expected_summaries(store: Store, run_ids, levels) -> list[tuple]:
    """The summaries folded in Python from the raw rows the Store keeps."""
    rows = []
    for run_id in run_ids:
        points = [
            {"key": key, "step": step, "value": value, "wall_time": wall}
            for key, series in store.get_metrics(run_id).items()
            for step, value, wall in zip(series.steps, series.values, series.wall_times)
        ]
        columns = MetricSummary.__table__.columns.keys()
        rows += [tuple(row[c] for c in columns) for row in summarise(run_id, points, levels)]
    return sorted(rows)


def wavy(step: int) -> float:
    """Ties, negative values and spikes, so min, max and their earliest step all matter."""
    return round(math.sin(step * 1.7), 1) + (5.0 if step % 13 == 0 else 0.0)


def test_summaries_written_as_steps_land_equal_those_of_the_raw_rows(db_url):
    store = Store(db_url, summary_levels=SMALL_LEVELS)
    runs = [store.start_run(store.create_run(name, {}).id, "w").id for name in ("a", "b")]
    for step in range(0, 20):
        for run_id in runs:
            store.log_step(run_id, step, metrics={"reward": wavy(step + run_id), "loss": -step})
            if step % 3 == 0:  # another write at the same step, as a sink's second call would make
                store.log_metrics(run_id, step, {"eval/accuracy": wavy(step * 2)})
    assert stored_summaries(store) == expected_summaries(store, runs, SMALL_LEVELS)
    store.close()


def test_a_read_picks_raw_points_for_a_short_series_and_bucket_extremes_for_a_long_one(db_url):
    store = Store(db_url, summary_levels=SMALL_LEVELS)
    run = store.start_run(store.create_run("r", {}).id, "w")
    for step in range(1, 41):
        store.log_step(run.id, step, metrics={"reward": wavy(step), **({"eval": step} if step % 20 == 0 else {})})
    raw = store.get_metrics(run.id)
    assert store.get_metric_summary(run.id, max_points=40) == raw  # few enough points: every one of them

    summary = store.get_metric_summary(run.id, max_points=10)  # ~5 buckets wanted: the level of 8 steps
    assert summary["eval"] == raw["eval"]  # 2 points: raw
    reward = summary["reward"]
    points = list(zip(raw["reward"].steps, raw["reward"].values))
    expected = set()
    for start in range(0, 41, 8):
        bucket = [(step, value) for step, value in points if start <= step < start + 8]
        expected.add(min(bucket, key=lambda p: (p[1], p[0])))
        expected.add(min(bucket, key=lambda p: (-p[1], p[0])))
    expected.add(points[-1])
    assert list(zip(reward.steps, reward.values)) == sorted(expected)
    assert len(reward.steps) < len(points) and reward.steps[-1] == 40
    wall = dict(zip(raw["reward"].steps, raw["reward"].wall_times))
    assert reward.wall_times == tuple(wall[step] for step in reward.steps)  # real points, with their own times
    store.close()


def test_deleting_a_run_deletes_its_summaries_and_an_import_writes_them(db_url):
    store = Store(db_url, summary_levels=SMALL_LEVELS)
    gone = store.start_run(store.create_run("gone", {}).id, "w")
    for step in range(10):
        store.log_metrics(gone.id, step, {"reward": wavy(step)})
    source = store.get_metrics(gone.id)["reward"]
    store.finish_run(gone.id, Status.SUCCEEDED)
    store.delete_run(gone.id)
    assert stored_summaries(store) == []

    run = {"name": "back", "status": "succeeded", "config": {}, "created_at": gone.created_at}
    # Out of step order, as an archive may hold them: the summaries are those of the steps in order.
    metrics = [
        {"step": step, "key": "reward", "value": value, "wall_time": wall}
        for step, value, wall in reversed(list(zip(source.steps, source.values, source.wall_times)))
    ]
    imported = store.import_run(run, metrics, [])
    assert stored_summaries(store) == expected_summaries(store, [imported.id], SMALL_LEVELS) != []
    store.close()


def test_the_migration_fills_summaries_for_points_stored_before_it(db_url):
    engine = create_engine(db_url)
    with engine.begin() as connection:
        run_id = old_run(connection, "0005", step=0)
        connection.execute(
            text("INSERT INTO metrics (run_id, step, key, value, wall_time) VALUES (:run, :step, :key, :value, :wall)"),
            [
                {"run": run_id, "step": step, "key": key, "value": wavy(step) * scale, "wall": 1e9 + step}
                for step in range(300)
                for key, scale in (("reward", 1), ("kl", -2))
            ],
        )
    engine.dispose()
    store = Store(db_url)
    assert stored_summaries(store) == expected_summaries(store, [run_id], LEVELS)
    assert store.get_metric_summary(run_id, max_points=1000) == store.get_metrics(run_id)
    store.close()
