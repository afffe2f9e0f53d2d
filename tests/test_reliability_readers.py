"""Eight browser-free readers (gradio_client, one per thread) poll the real app while a run writes steps."""

from __future__ import annotations

import statistics

import pytest

from storage import Store
from tests.app_process import AppProcess
from tests.readers import read_concurrently

READERS = 8
POLLS = 5


@pytest.mark.slow
def test_eight_readers_polling_a_writing_run_see_whole_steps_and_no_errors(tmp_path):
    app = AppProcess(tmp_path, step_s=0.2)
    store = Store(app.db_url)
    try:
        client = app.start()
        run = app.queue_endless_run(client, store, steps=2)
        logs = read_concurrently(app.url, run["id"], READERS, POLLS)
        client.predict(run_id=run["id"], api_name="/cancel_run")
    finally:
        app.stop()
        store.close()
    assert [log.problems for log in logs] == [[]] * READERS
    assert all(len(log.latencies_s) == POLLS for log in logs)
    first = min(log.last_steps[0] for log in logs)
    last = max(log.last_steps[-1] for log in logs)
    assert last > first  # the run kept writing while they read
    latencies = sorted(latency for log in logs for latency in log.latencies_s)
    print(
        f"\n{READERS} readers x {POLLS} polls while the run went from step {first} to {last}: poll latency "
        f"median {statistics.median(latencies) * 1e3:.0f} ms, "
        f"p95 {latencies[int(0.95 * (len(latencies) - 1))] * 1e3:.0f} ms"
    )
