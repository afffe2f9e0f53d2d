from pathlib import Path

import pytest
import sqlalchemy

from nover_ui.run_actions import ActionRefused, cancel_run, delete_run, resume_run
from tests.helpers import step_rows


def test_cancel_is_refused_for_a_finished_run(store):
    run = store.create_run("r", {})
    assert cancel_run(store, run.id).status == "cancelled"
    with pytest.raises(ActionRefused, match="already cancelled"):
        cancel_run(store, run.id)


def test_resume_queues_a_linked_run_from_the_last_checkpoint(store):
    run = store.start_run(store.create_run("r", {"max_steps": 10}).id, "w")
    with pytest.raises(ActionRefused, match="only a failed or cancelled"):
        resume_run(store, run.id)
    store.finish_run(run.id, "failed", "boom")
    with pytest.raises(ActionRefused, match="saved no checkpoint"):
        resume_run(store, run.id)
    store.add_checkpoint(run.id, 4, "/ckpt/4")
    store.add_checkpoint(run.id, 8, "/ckpt/8")
    resumed = resume_run(store, run.id)
    assert (resumed.status, resumed.parent_id, resumed.config) == ("queued", run.id, {"max_steps": 10})
    assert resumed.name == "r (resumed from step 8)"


def test_delete_is_refused_while_running_and_changes_nothing(store, tmp_path):
    run = store.start_run(store.create_run("r", {}).id, "w")
    with pytest.raises(ActionRefused, match="running"):
        delete_run(store, run.id, tmp_path)
    assert store.get_run(run.id).status == "running"
    store.finish_run(run.id, "succeeded")
    delete_run(store, run.id, tmp_path)
    assert store.list_runs() == []


def checkpoint_folder(path: Path) -> Path:
    path.mkdir(parents=True)
    (path / "adapter_model.safetensors").write_bytes(b"weights")
    return path


def row_counts(url: str, run_id: int) -> dict[str, int]:
    """Rows that refer to run `run_id` in every table, read with plain SQL (not through the Store)."""
    queries = {
        table: f"SELECT count(*) FROM {table} WHERE run_id = :id"
        for table in ("metrics", "prompts", "rollouts", "checkpoints", "evaluations")
    }
    queries["runs"] = "SELECT count(*) FROM runs WHERE id = :id"
    queries["evaluation_samples"] = (
        "SELECT count(*) FROM evaluation_samples WHERE evaluation_id IN (SELECT id FROM evaluations WHERE run_id = :id)"
    )
    engine = sqlalchemy.create_engine(url)
    with engine.connect() as connection:
        counts = {
            table: connection.execute(sqlalchemy.text(query), {"id": run_id}).scalar()
            for table, query in queries.items()
        }
    engine.dispose()
    return counts


def test_delete_removes_the_runs_rows_and_folders_and_nothing_else(store, tmp_path):
    home = tmp_path / "home"
    outside = checkpoint_folder(tmp_path / "elsewhere" / "checkpoint-9")
    unrelated = home / "notes.txt"
    home.mkdir()
    unrelated.write_text("keep me")
    (home / "runs").mkdir()
    (home / "runs" / "escape").symlink_to(tmp_path / "elsewhere", target_is_directory=True)
    runs = [store.start_run(store.create_run(name, {}).id, "w") for name in ("gone", "kept")]
    for run in runs:
        store.log_step(run.id, 1, {"reward": 1.0}, step_rows())
        for step in (1, 2):
            folder = checkpoint_folder(home / "runs" / str(run.id) / f"checkpoint-{step}")
            store.add_checkpoint(run.id, step, str(folder))
        store.finish_run(run.id, "succeeded")
        job = store.queue_evaluation("evaluation", "m", "d", {}, run_id=run.id, checkpoint_step=2)
        store.claim_next_evaluation("w")
        store.log_evaluation_samples(job.id, [dict(sample_index=0, prompt="q", reference="a", completion="c")])
        store.finish_evaluation(job.id, "succeeded", {})
    gone, kept = runs
    # Paths a database may hold that deletion must never follow: outside HOME, out of it through a symlink or
    # `..`, and into the other run's folder.
    for step, path in enumerate(
        [
            outside,
            home / "runs" / "escape" / "checkpoint-9",
            home / "runs" / str(gone.id) / ".." / ".." / ".." / "elsewhere",
            home / "runs" / str(kept.id) / "checkpoint-1",
        ],
        start=3,
    ):
        store.add_checkpoint(gone.id, step, str(path))
    base = store.queue_evaluation("evaluation", "m", "d", {})
    before = row_counts(store.url, kept.id)

    removed = delete_run(store, gone.id, home)

    assert removed == [(home / "runs" / str(gone.id)).resolve()]
    assert set(row_counts(store.url, gone.id).values()) == {0}
    assert row_counts(store.url, kept.id) == before and min(before.values()) > 0
    assert not (home / "runs" / str(gone.id)).exists()
    assert sorted(p.name for p in (home / "runs" / str(kept.id)).iterdir()) == ["checkpoint-1", "checkpoint-2"]
    assert (outside / "adapter_model.safetensors").read_bytes() == b"weights"
    assert unrelated.read_text() == "keep me"
    assert [e.id for e in store.list_evaluations() if e.run_id is None] == [base.id]


def test_delete_is_refused_while_a_job_on_its_checkpoints_runs_or_a_run_resumes_from_it(store, tmp_path):
    run = store.create_run("r", {})
    store.request_cancel(run.id)
    job = store.queue_evaluation("playground", "m", "playground", {}, run_id=run.id, checkpoint_step=2)
    store.claim_next_evaluation("w")
    with pytest.raises(ActionRefused, match=f"job {job.id} .* is running"):
        delete_run(store, run.id, tmp_path)
    store.finish_evaluation(job.id, "succeeded", {})
    child = store.create_run("r (resumed from step 2)", {}, parent_id=run.id)
    with pytest.raises(ActionRefused, match=f"run {child.id} resumes from run {run.id}"):
        delete_run(store, run.id, tmp_path)
    store.request_cancel(child.id)
    delete_run(store, run.id, tmp_path)
    assert store.get_run(child.id).parent_id is None and store.list_evaluations() == []
