"""Failure flags for rollouts stored without them (before flags were stored, or by an older flag set): computed
once, at the dashboard's start-up, in a background thread, so the Traces tab only ever reads stored flags.

The Store lists the steps to do and stores what is computed here, in batches; training/flags.py says which flags
apply (`flags_of_step`, with each run's own tag settings) and which flag set is current (FLAGS_VERSION).
"""

from __future__ import annotations

import sys
import threading

from storage import RunNotFound, RunRecord, StorageError, Store
from training.config import ConfigError, RunConfig
from training.flags import DEFAULT_TAGS, FLAGS_VERSION, TagSettings, flags_of_step

BATCH_ROLLOUTS = 4000
"""Rollouts whose flags are written in one transaction: few commits, and short enough that a worker's step
write never waits long behind one (SQLite has a single writer)."""
STEPS_PER_READ = 250
"""Steps of one run read in one query: few round trips, well under every backend's bound-parameter limit."""


def run_tags(run: RunRecord) -> TagSettings:
    """The run's tag settings; the defaults for a run whose stored config no longer validates."""
    try:
        return TagSettings.of(RunConfig.from_dict(run.config))
    except ConfigError:
        return DEFAULT_TAGS


def backfill_flags(store: Store, stop: threading.Event | None = None, batch_rollouts: int = BATCH_ROLLOUTS) -> int:
    """Compute and store the flags of every rollout lacking flags of the current flag set, whole steps at a time
    (a rollout's flags depend on its group); returns how many rollouts got flags. Stops early, after its current
    batch, once `stop` is set."""
    steps_of_run: dict[int, list[int]] = {}
    for run_id, step in store.flag_backlog(FLAGS_VERSION):
        steps_of_run.setdefault(run_id, []).append(step)
    pending: dict[int, list[str]] = {}
    done = 0
    for run_id, steps in steps_of_run.items():
        try:
            tags = run_tags(store.get_run(run_id))
        except RunNotFound:  # deleted since the backlog was listed
            continue
        for start in range(0, len(steps), STEPS_PER_READ):
            if stop is not None and stop.is_set():
                return done
            rollouts = store.flag_inputs(run_id, steps[start : start + STEPS_PER_READ])
            for rollout, flags in zip(rollouts, flags_of_step(rollouts, tags)):
                if rollout.flags_version is None or rollout.flags_version < FLAGS_VERSION:
                    pending[rollout.id] = flags
            if len(pending) >= batch_rollouts:
                store.set_rollout_flags(pending, FLAGS_VERSION)
                done, pending = done + len(pending), {}
    store.set_rollout_flags(pending, FLAGS_VERSION)
    return done + len(pending)


def start_flag_backfill(store: Store, stop: threading.Event) -> threading.Thread:
    """Run backfill_flags in a daemon thread, so start-up does not wait for it; a failure is reported, not
    raised (the rows keep showing "flags not computed", and the next start-up tries again)."""

    def backfill() -> None:
        try:
            count = backfill_flags(store, stop)
        except StorageError as exc:
            print(f"nover_ui: computing the failure flags of stored rollouts failed: {exc}", file=sys.stderr)
            return
        if count:
            print(f"nover_ui: computed the failure flags of {count:,} stored rollouts", file=sys.stderr)

    thread = threading.Thread(target=backfill, name="flag-backfill", daemon=True)
    thread.start()
    return thread
