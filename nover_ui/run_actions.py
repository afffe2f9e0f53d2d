"""What a person may do to an existing run, with the checks that make a refusal say why."""

from __future__ import annotations

from storage import InvalidTransition, RunRecord, Store

RESUMABLE = ("failed", "cancelled")


class ActionRefused(Exception):
    """The action does not apply to this run now; the message says why and what to do instead."""


def cancel_run(store: Store, run_id: int) -> RunRecord:
    run = store.get_run(run_id)
    if run.status not in ("queued", "running"):
        raise ActionRefused(f"run {run_id} is already {run.status}; only queued or running runs can be cancelled")
    return store.request_cancel(run_id)


def resume_run(store: Store, run_id: int) -> RunRecord:
    """Queue a new run, linked to `run_id`, that continues from the latest checkpoint of it."""
    run = store.get_run(run_id)
    if run.status not in RESUMABLE:
        raise ActionRefused(f"run {run_id} is {run.status}; only a failed or cancelled run can be resumed")
    checkpoints = store.list_checkpoints(run_id)
    if not checkpoints:
        raise ActionRefused(f"run {run_id} saved no checkpoint (checkpoint_steps={run.config.get('checkpoint_steps')}"
                            f", it stopped at step {run.step}); clone it into the Train form to start again")
    return store.create_run(f"{run.name} (resumed from step {checkpoints[-1].step})", run.config, parent_id=run_id)


def delete_run(store: Store, run_id: int) -> None:
    try:
        store.delete_run(run_id)
    except InvalidTransition as exc:
        raise ActionRefused(str(exc)) from None
