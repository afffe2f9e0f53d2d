from nover_ui.metrics_cache import MAX_RUNS, SeriesCache
from storage import Store


def series_of(store, run):
    return {key: (s.steps, s.values) for key, s in store.get_metrics(run.id).items()}


def test_the_cache_matches_a_full_read_after_every_new_step(store):
    run = store.start_run(store.create_run("r", {}).id, "w")
    cache = SeriesCache()
    for step in range(1, 6):
        store.log_step(run.id, step, metrics={"reward": step, **({"kl": step / 10} if step % 2 else {})})
        cached = cache.get(store, run.id, run.created_at)
        assert {key: (s.steps, s.values) for key, s in cached.items()} == series_of(store, run)


def test_a_key_written_later_at_the_last_cached_step_is_picked_up(store):
    run = store.start_run(store.create_run("r", {}).id, "w")
    cache = SeriesCache()
    store.log_step(run.id, 1, metrics={"reward": 1.0})
    cache.get(store, run.id, run.created_at)
    store.log_step(run.id, 1, metrics={"loss": 0.5})  # the same step, another write
    assert set(cache.get(store, run.id, run.created_at)) == {"reward", "loss"}
    assert cache.get(store, run.id, run.created_at)["reward"].steps == (1,)  # re-read, not duplicated


def test_a_new_run_reusing_an_id_is_read_afresh(store):
    cache = SeriesCache()
    old = store.start_run(store.create_run("old", {}).id, "w")
    store.log_step(old.id, 1, metrics={"old_key": 1.0})
    cache.get(store, old.id, old.created_at)
    store.finish_run(old.id, "succeeded")
    store.delete_run(old.id)
    new = store.start_run(store.create_run("new", {}).id, "w")
    store.log_step(new.id, 1, metrics={"new_key": 1.0})
    assert set(cache.get(store, new.id, new.created_at)) == {"new_key"}


def test_the_cache_keeps_a_bounded_number_of_runs(store):
    cache = SeriesCache()
    runs = [store.create_run(f"r{i}", {}) for i in range(MAX_RUNS + 3)]
    for run in runs:
        cache.get(store, run.id, run.created_at)
    assert len(cache._runs) == MAX_RUNS and runs[0].id not in cache._runs


def test_a_long_run_is_read_summarised_then_follows_new_steps_and_is_summarised_again(tmp_path):
    store = Store(f"sqlite:///{tmp_path / 'db.sqlite'}", summary_levels=(2, 8))
    run = store.start_run(store.create_run("r", {}).id, "w")
    for step in range(1, 81):
        store.log_step(run.id, step, metrics={"reward": (step * 7) % 11})
    cache = SeriesCache(max_points=20)
    first = cache.get(store, run.id, run.created_at)["reward"]
    assert first == store.get_metric_summary(run.id, 20)["reward"] and len(first.steps) < 80

    store.log_step(run.id, 81, metrics={"reward": 100.0})  # a spike in a live run: appended as logged
    after = cache.get(store, run.id, run.created_at)["reward"]
    assert after.steps == first.steps + (81,) and after.values[-1] == 100.0

    for step in range(82, 110):  # more new points than a summary holds: the next read summarises afresh
        store.log_step(run.id, step, metrics={"reward": (step * 7) % 11})
    cache.get(store, run.id, run.created_at)
    store.log_step(run.id, 110, metrics={"reward": -1.0})
    again = cache.get(store, run.id, run.created_at)["reward"]
    assert again == store.get_metric_summary(run.id, 20)["reward"]
    assert 100.0 in again.values and again.steps[-1] == 110 and len(again.steps) < 110
    store.close()
