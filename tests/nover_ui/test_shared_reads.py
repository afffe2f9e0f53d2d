"""The shared reads: one read per (key, version) however many threads ask, bounded, errors never kept; and the
Runs table and the Metrics charts of many pages drawn from one read per change."""

import threading

import pytest

from nover_ui.metrics_cache import SeriesCache
from nover_ui.metrics_tab import draw
from nover_ui.run_signal import SignalSeen
from nover_ui.runs_tab import redraw
from nover_ui.shared_reads import SharedReads, shared_runs
from tests.nover_ui.tab_fixtures import build_tabs
from tests.readers import CountingStore

THREADS = 16


class Loads:
    """A load function that counts its calls and returns the call's number."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self) -> int:
        self.calls += 1
        return self.calls


def test_many_threads_asking_for_one_version_at_once_share_one_read():
    reads, asked, calls = SharedReads(), [], []
    everyone_asked = threading.Event()

    def load():
        calls.append(1)
        assert everyone_asked.wait(10)  # held in flight until every thread has asked
        return "value"

    def ask(results):
        asked.append(1)
        if len(asked) == THREADS:
            everyone_asked.set()
        results.append(reads.get("runs", 7, load))

    results: list[str] = []
    threads = [threading.Thread(target=ask, args=(results,)) for _ in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == ["value"] * THREADS
    assert len(calls) == 1 and reads.loads == 1


def test_a_new_version_reads_again_and_the_one_before_stays():
    reads, load = SharedReads(), Loads()
    assert [reads.get("k", version, load) for version in (1, 1, 2, 1, 2)] == [1, 1, 2, 1, 2]
    assert load.calls == 2
    reads.get("k", 3, load)  # keeps versions 2 and 3: version 1 is read again
    assert reads.get("k", 1, load) == 4


def test_the_cache_keeps_at_most_max_keys_least_recently_used_out_first():
    reads, load = SharedReads(max_keys=2), Loads()
    first, second = reads.get("a", 1, load), reads.get("b", 1, load)
    assert reads.get("a", 1, load) == first  # "a" used last: "b" goes first
    reads.get("c", 1, load)
    assert reads.get("a", 1, load) == first
    assert reads.get("b", 1, load) != second
    assert load.calls == 4


def test_an_error_is_raised_to_the_reader_and_never_kept():
    reads, outcomes = SharedReads(), iter([OSError("database is locked"), "runs"])

    def load():
        outcome = next(outcomes)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    with pytest.raises(OSError, match="locked"):
        reads.get("runs", 1, load)
    assert reads.get("runs", 1, load) == "runs"


def test_the_runs_version_tags_a_runs_step_status_and_identity(store):
    run = store.create_run("r", {})
    queued = shared_runs(store).run_version(run.id)
    store.start_run(run.id, "w")
    store.log_step(run.id, 1, metrics={"reward": 1.0}, heartbeat=True)
    running = shared_runs(store).run_version(run.id)
    assert queued != running and shared_runs(store).get(run.id).step == 1
    assert shared_runs(store).run_version(999) is None


@pytest.fixture
def counting(tmp_path):
    store = CountingStore(f"sqlite:///{tmp_path / 'counted.db'}")
    yield store
    store.close()


def test_the_runs_table_of_many_pages_is_read_once_per_change(counting, tmp_path):
    runs = build_tabs(counting, tmp_path).runs
    counting.reads.clear()  # building the Train tab reads the runs once for its time estimate
    counting.create_run("first", {})
    tables = [redraw(None, "", store=counting, tab=runs)[runs.runs_df] for _ in range(3)]
    assert counting.reads["list_runs"] == 1 and all(table.equals(tables[0]) for table in tables)
    counting.create_run("second", {})
    tables = [redraw(None, "", store=counting, tab=runs)[runs.runs_df] for _ in range(3)]
    assert counting.reads["list_runs"] == 2 and list(tables[-1]["name"]) == ["second", "first"]
    # Each page filters the shared read for itself: no new read.
    assert list(redraw(None, "sec", store=counting, tab=runs)[runs.runs_df]["name"]) == ["second"]
    assert counting.reads["list_runs"] == 2


def test_the_metrics_charts_of_many_pages_read_a_runs_series_once_per_step(counting, tmp_path):
    metrics = build_tabs(counting, tmp_path).metrics
    run = counting.start_run(counting.create_run("r", {}).id, "w")
    pages = [SeriesCache() for _ in range(3)]  # as if each page kept its own: the shared read still comes first
    for step in (1, 2):
        counting.log_step(run.id, step, metrics={"reward": 0.5 * step}, heartbeat=True)
        for cache in pages:
            drawn = draw([run.id], 0.0, "step", False, store=counting, cache=cache, seen=SignalSeen(), tab=metrics)
            assert drawn[metrics.header_plot]["visible"] is True
        # The first read is the run's summary, each later one only the steps that landed since.
        assert counting.reads["get_metric_summary"] + counting.reads["get_metrics"] == step
