"""bench/bench_claims.py's core in a tiny configuration: three real worker processes on PostgreSQL claim every queued
run and job exactly once, while the dashboard's reads run (no timings asserted). Three, not more: on two cores each
further worker adds seconds of start-up (imports) to the test."""

import pytest

from bench.bench_claims import run_claims


@pytest.mark.slow
def test_three_workers_claim_each_run_and_job_exactly_once_while_the_dashboard_reads(postgres_url, tmp_path):
    result = run_claims(postgres_url, tmp_path, workers=3, runs=12, jobs=2, poll_s=0.1, idle_reads=2)
    assert result.claimed_more_than_once() == []
    assert sorted(result.claims) == [("job", 1), ("job", 2)] + [("run", i) for i in range(1, 13)]
    assert dict(result.statuses) == {"succeeded": 14} and len(result.claim_times) == 14
    assert result.exit_codes == [0, 0, 0] and set(result.claimers) <= {"w0", "w1", "w2"}
    assert result.busy["runs table"] and len(result.idle["runs_version"]) == 2
