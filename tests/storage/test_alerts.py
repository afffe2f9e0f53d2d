"""Alerts: a rule that fired on a run, once per (run, rule), its evidence extended while it keeps firing."""

import math

import pytest

from storage import RunNotFound, StorageError, Store


def test_an_alert_is_new_once_and_then_extends_its_evidence(store: Store):
    run = store.create_run("r", {}).id
    first, new = store.record_alert(run, "truncated", "completions/clipped_ratio", [3, 4], [1.0, 1.0], "all cut")
    assert new and (first.steps, first.values, first.last_step) == ((3, 4), (1.0, 1.0), 4)
    before = store.runs_version()
    again, new = store.record_alert(run, "truncated", "completions/clipped_ratio", [3, 4, 5], [1.0, 1.0, 1.0], "x")
    assert not new and again.id == first.id and again.steps == (3, 4, 5) and again.created_at == first.created_at
    assert store.runs_version() != before  # the badge's evidence grew: pages redraw
    assert store.mark_alert_notified(first.id).notified_at is not None
    assert [a.rule for a in store.list_alerts([run])[run]] == ["truncated"]


def test_alerts_are_kept_per_run_and_go_with_their_run(store: Store):
    one, two = store.create_run("one", {}).id, store.create_run("two", {}).id
    store.record_alert(one, "kl spike", "kl", [7], [3.5], "kl jumped")
    store.record_alert(two, "kl spike", "kl", [2], [9.0], "kl jumped")
    assert sorted(store.list_alerts([one, two])) == [one, two]
    store.delete_run(one)
    assert list(store.list_alerts([one, two])) == [two]


def test_evidence_keeps_only_finite_values_and_a_bad_alert_writes_nothing(store: Store):
    run = store.create_run("r", {}).id
    alert, _ = store.record_alert(run, "entropy", "entropy", [1, 2, 3], [0.5, math.nan, 0.01], "fell")
    assert (alert.steps, alert.values) == ((1, 3), (0.5, 0.01))
    for bad in (
        lambda: store.record_alert(run, "r2", "m", [], [], "no evidence"),
        lambda: store.record_alert(run, "r2", "m", [1], [math.inf], "no finite value"),
        lambda: store.record_alert(run, "", "m", [1], [1.0], "no rule"),
    ):
        with pytest.raises(StorageError):
            bad()
    with pytest.raises(RunNotFound):
        store.record_alert(999, "r", "m", [1], [1.0], "no run")
    assert [a.rule for a in store.list_alerts([run])[run]] == ["entropy"]
