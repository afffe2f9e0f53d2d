"""Every UI action through gradio_client, against one real dashboard with logins configured (served in this process).

`anon` sends no login token and is refused every write with the UI's message; `alice` is logged in. Runs, jobs and
experiments are seeded with the Store; no worker runs, so queued jobs stay queued.
"""

import zipfile
from pathlib import Path

import pandas as pd
import pytest
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError

from nover_ui.access import TOKEN_HEADER, Access
from storage import Store
from tests.helpers import step_rows
from tests.nover_ui.test_api import serve
from tests.nover_ui.test_trl_import import zipped

LOGIN = "log in to {}: call the /login endpoint"


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    home = tmp_path_factory.mktemp("api-home")
    store = Store(f"sqlite:///{home / 'nover_ui.db'}")
    app, anon = serve(store, home, Access(passwords={"alice": "wonder land"}))
    token = anon.predict(username="alice", password="wonder land", api_name="/login")["token"]
    alice = Client(app.local_url, verbose=False, headers={TOKEN_HEADER: token})
    yield store, home, anon, alice
    app.close()
    store.close()


def finished_run(store: Store, name: str = "r", status: str = "failed", checkpoint_steps=(2,), config=None) -> int:
    run = store.start_run(store.create_run(name, config or {"max_steps": 4, "checkpoint_steps": 2}).id, "w")
    store.log_step(run.id, 1, metrics={"reward": 0.5}, rollouts=step_rows(1, 2))
    for step in checkpoint_steps:
        store.add_checkpoint(run.id, step, f"/nowhere/checkpoint-{step}")
    store.finish_run(run.id, status)
    return run.id


def test_resume_clone_and_delete_a_run(served):
    store, home, anon, alice = served
    run_id = finished_run(store)
    with pytest.raises(AppError, match=LOGIN.format("resume runs")):
        anon.predict(run_id=run_id, api_name="/resume_run")
    resumed = alice.predict(run_id=run_id, api_name="/resume_run")
    assert (resumed["status"], resumed["parent_id"], resumed["name"]) == ("queued", run_id, "r (resumed from step 2)")
    with pytest.raises(AppError, match=f"run {resumed['id']} is queued; only a failed or cancelled run can be resumed"):
        alice.predict(run_id=resumed["id"], api_name="/resume_run")

    cloned = anon.predict(run_id=run_id, api_name="/clone_run")  # reading needs no login
    assert cloned["name"] == "r (copy)" and cloned["config"]["max_steps"] == 4 and "learning_rate" in cloned["config"]
    with pytest.raises(AppError, match="Cannot clone run 999: run 999 does not exist"):
        anon.predict(run_id=999, api_name="/clone_run")

    with pytest.raises(AppError, match=LOGIN.format("delete runs")):
        anon.predict(run_id=run_id, api_name="/delete_run")
    with pytest.raises(AppError, match=f"run {resumed['id']} resumes from run {run_id}'s checkpoints; cancel it first"):
        alice.predict(run_id=run_id, api_name="/delete_run")
    assert alice.predict(run_id=resumed["id"], api_name="/cancel_run")["status"] == "cancelled"
    assert alice.predict(run_id=run_id, api_name="/delete_run") == {"id": run_id, "deleted": True}
    assert run_id not in [run.id for run in store.list_runs()]
    with pytest.raises(AppError, match=f"run {run_id} does not exist"):
        alice.predict(run_id=run_id, api_name="/delete_run")


def test_export_a_run_and_import_it_back(served, tmp_path):
    store, home, anon, alice = served
    run_id = finished_run(store, "exported", "succeeded")
    archive = anon.predict(run_id=run_id, api_name="/export_run")
    assert Path(archive).name == f"run-{run_id}.zip"
    with pytest.raises(AppError, match="Cannot export run 999: run 999 does not exist"):
        anon.predict(run_id=999, api_name="/export_run")

    imported = alice.predict(archive=handle_file(archive), api_name="/import_run")
    assert (imported["name"], imported["status"], imported["source_id"]) == ("exported", "succeeded", run_id)
    assert len(store.get_rollouts(imported["id"])) == 2
    # Refused: no login (the upload itself), a path on the server, a file that is no archive.
    with pytest.raises(Exception, match="403 Forbidden"):  # the upload guard refuses the upload itself
        anon.predict(archive=handle_file(archive), api_name="/import_run")
    with pytest.raises(AppError, match=LOGIN.format("import runs")):
        anon.predict(archive={"path": archive}, api_name="/import_run")
    with pytest.raises(AppError, match="send the file itself with gradio_client.handle_file"):
        alice.predict(archive={"path": str(home / "nover_ui.db")}, api_name="/import_run")
    bad = tmp_path / "bad.zip"
    bad.write_text("not a zip")
    with pytest.raises(AppError, match="is not a zip archive written by --export"):
        alice.predict(archive=handle_file(str(bad)), api_name="/import_run")
    assert [run.name for run in store.list_runs()].count("exported") == 2  # the run and its one import


def test_rename_tag_and_note_a_run_and_read_its_alerts(served):
    store, home, anon, alice = served
    run_id = finished_run(store, "plain")
    for api_name, value, action in (
        ("/rename_run", "better name", "rename runs"),
        ("/set_tags", ["lr", " sweep "], "tag runs"),
        ("/set_notes", "diverged at step 3", "write run notes"),
    ):
        with pytest.raises(AppError, match=LOGIN.format(action)):
            anon.predict(run_id, value, api_name=api_name)
        alice.predict(run_id, value, api_name=api_name)
    run = store.get_run(run_id)
    assert (run.name, run.tags, run.notes) == ("better name", ("lr", "sweep"), "diverged at step 3")
    with pytest.raises(AppError, match="run 999 does not exist"):
        alice.predict(999, "x", api_name="/rename_run")

    assert anon.predict(run_id=run_id, api_name="/get_alerts") == []
    store.record_alert(run_id, "collapse", "reward", [1, 2], [0.5, 0.0], "reward fell to 0")
    (alert,) = anon.predict(run_id=run_id, api_name="/get_alerts")
    assert (alert["metric"], alert["steps"], alert["values"], alert["message"]) == (
        "reward",
        [1, 2],
        [0.5, 0.0],
        "reward fell to 0",
    )
    with pytest.raises(AppError, match="run 999 does not exist"):
        anon.predict(run_id=999, api_name="/get_alerts")


def test_queue_an_evaluation_read_its_status_and_download_its_samples(served):
    store, home, anon, alice = served
    run_id = finished_run(store, "evaluated", "succeeded", checkpoint_steps=(2, 4))
    form = dict(run_id=run_id, steps=[4], include_base=True, split="test", max_prompts=3, samples=2, seed=7)
    with pytest.raises(AppError, match=LOGIN.format("queue evaluations")):
        anon.predict(**form, api_name="/queue_evaluation")
    with pytest.raises(AppError, match="choose the base model, a checkpoint, or both"):
        alice.predict(**{**form, "steps": [], "include_base": False}, api_name="/queue_evaluation")
    base_id, step_id = alice.predict(**form, api_name="/queue_evaluation")
    base, step = store.get_evaluation(base_id), store.get_evaluation(step_id)
    assert (base.run_id, base.checkpoint_step, step.run_id, step.checkpoint_step) == (None, None, run_id, 4)
    assert {key: step.config[key] for key in ("split", "max_prompts", "samples", "seed")} == {
        "split": "test",
        "max_prompts": 3,
        "samples": 2,
        "seed": 7,
    }
    queued = anon.predict(evaluation_id=step_id, api_name="/get_evaluation")
    assert (queued["status"], queued["samples"]) == ("queued", [])

    # A worker's part, by hand: the base model's job runs and writes its samples.
    assert store.claim_next_evaluation("w").id == base_id
    store.log_evaluation_samples(base_id, [dict(sample_index=0, prompt="q", reference="a", completion="c")])
    store.finish_evaluation(base_id, "succeeded", {"format_valid": 0.0})
    done = anon.predict(evaluation_id=base_id, api_name="/get_evaluation")
    assert (done["status"], done["metrics"], done["samples"][0]["completion"]) == (
        "succeeded",
        {"format_valid": 0.0},
        "c",
    )
    table = anon.predict(evaluation_ids=[base_id], fmt="csv", api_name="/download_samples")
    assert pd.read_csv(table)["completion"].tolist() == ["c"]
    with pytest.raises(AppError, match="nothing to export"):
        anon.predict(evaluation_ids=[step_id], fmt="csv", api_name="/download_samples")
    with pytest.raises(AppError, match="evaluation 999"):
        anon.predict(evaluation_id=999, api_name="/get_evaluation")


def test_queue_a_playground_prompt_and_read_its_answers(served):
    store, home, anon, alice = served
    run_id = finished_run(store, "played", "succeeded", checkpoint_steps=(2,))
    with pytest.raises(AppError, match=LOGIN.format("generate")):
        anon.predict(prompt="2+2?", api_name="/queue_prompt")
    with pytest.raises(AppError, match="type a prompt"):
        alice.predict(prompt="  ", api_name="/queue_prompt")
    jobs = alice.predict(prompt="2+2?", run_id=run_id, models=["base", "2"], seed=3, api_name="/queue_prompt")
    assert [job["label"] for job in jobs] == ["base model", f"run {run_id} · step 2"]
    answers = anon.predict(job_ids=[job["id"] for job in jobs], api_name="/get_answers")
    assert [(a["kind"], a["status"], a["checkpoint_step"]) for a in answers] == [
        ("playground", "queued", None),
        ("playground", "queued", 2),
    ]
    assert answers[0]["config"]["prompts"] == ["2+2?"] and answers[0]["config"]["seed"] == 3


def test_queue_an_experiment_list_it_and_read_it_with_its_runs(served):
    store, home, anon, alice = served
    config = {"max_steps": 2, "eval_steps": 1, "num_generations": 2}
    grid = dict(config=config, name="cmp", recipes=["nover", "rlpr"], sweeps={"learning_rate": "1e-5, 3e-5"}, seeds=1)
    runs_before = len(store.list_runs())
    with pytest.raises(AppError, match=LOGIN.format("queue experiments")):
        anon.predict(**grid, api_name="/queue_experiment")
    with pytest.raises(AppError, match="eval_steps must be > 0"):
        alice.predict(**{**grid, "config": {**config, "eval_steps": 0}}, api_name="/queue_experiment")
    with pytest.raises(AppError, match="'fast' is not a number"):
        alice.predict(**{**grid, "sweeps": {"learning_rate": "1e-5, fast"}}, api_name="/queue_experiment")
    assert len(store.list_runs()) == runs_before  # a refused grid queues none of its runs

    experiment = alice.predict(**grid, api_name="/queue_experiment")
    assert experiment["name"] == "cmp" and len(experiment["run_ids"]) == 4
    assert [e["id"] for e in anon.predict(api_name="/list_experiments")][0] == experiment["id"]
    read = anon.predict(experiment_id=experiment["id"], api_name="/get_experiment")
    assert {(run["config"]["reward"], run["config"]["learning_rate"]) for run in read["runs"]} == {
        ("nover", 1e-5),
        ("nover", 3e-5),
        ("rlpr", 1e-5),
        ("rlpr", 3e-5),
    }
    assert {run["status"] for run in read["runs"]} == {"queued"}
    with pytest.raises(AppError, match="experiment 999"):
        anon.predict(experiment_id=999, api_name="/get_experiment")


def test_import_a_zipped_trl_output_folder(served, trl_output, tmp_path):
    store, home, anon, alice = served
    folder_zip = zipped(trl_output, tmp_path / "trl-run.zip")
    with pytest.raises(AppError, match=LOGIN.format("import runs")):
        anon.predict(folder_zip={"path": str(folder_zip)}, api_name="/import_trl")
    imported = alice.predict(folder_zip=handle_file(str(folder_zip)), api_name="/import_trl")
    assert (imported["name"], imported["status"]) == ("grpo-run", "succeeded") and imported["notes"]
    assert {rollout.step for rollout in store.get_rollouts(imported["id"])} == {1, 2}  # TRL logged both steps
    assert "reward" in store.get_metrics(imported["id"])
    broken = tmp_path / "broken.zip"
    broken.write_text("not a zip")
    with pytest.raises(AppError, match="broken.zip is not a readable zip file"):
        alice.predict(folder_zip=handle_file(str(broken)), api_name="/import_trl")


def test_merge_a_checkpoint_download_it_and_push_it(served, monkeypatch):
    store, home, anon, alice = served
    monkeypatch.delenv("HF_TOKEN", raising=False)
    run_id = finished_run(store, "to merge", "succeeded")
    with pytest.raises(AppError, match=LOGIN.format("merge checkpoints")):
        anon.predict(run_id=run_id, step=2, api_name="/merge_checkpoint")
    job = alice.predict(run_id=run_id, step=2, api_name="/merge_checkpoint")
    assert (job["kind"], job["status"], job["run_id"], job["checkpoint_step"]) == ("merge", "queued", run_id, 2)
    assert alice.predict(run_id=run_id, step=2, api_name="/merge_checkpoint")["id"] == job["id"]  # not queued twice
    with pytest.raises(AppError, match="has no checkpoint at step 3; its checkpoints are at steps 2"):
        alice.predict(run_id=run_id, step=3, api_name="/merge_checkpoint")
    with pytest.raises(AppError, match="has not been merged yet: click Merge first"):
        anon.predict(run_id=run_id, step=2, api_name="/download_merged")
    with pytest.raises(AppError, match=LOGIN.format("push models to the Hub")):
        anon.predict(run_id=run_id, step=2, repo_id="alice/m", api_name="/push_to_hub")
    with pytest.raises(AppError, match="pushing to the Hub needs a token"):
        alice.predict(run_id=run_id, step=2, repo_id="alice/m", api_name="/push_to_hub")


def test_upload_data_then_queue_it_and_download_rollouts_and_an_adapter(served, tmp_path):
    store, home, anon, alice = served
    data = tmp_path / "qa.csv"
    data.write_text("question,answer\nWhat is 2+2?,4\nName a primary colour.,red\n")
    with pytest.raises(AppError, match=LOGIN.format("upload data")):
        anon.predict(data_file={"path": str(data)}, api_name="/upload_data")
    kept = alice.predict(data_file=handle_file(str(data)), api_name="/upload_data")
    assert (kept["dataset_name"], kept["columns"]) == ("qa.csv", ["question", "answer"])
    assert Path(kept["dataset"]).parent == home / "uploads" and Path(kept["dataset"]).read_text() == data.read_text()
    config = {"dataset": kept["dataset"], "dataset_name": kept["dataset_name"], "max_steps": 1}
    run = alice.predict(
        config={**config, "prompt_column": "question", "reference_column": "answer"}, api_name="/queue_run"
    )
    assert (run["status"], run["config"]["dataset"]) == ("queued", kept["dataset"])
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(AppError, match="empty.csv is empty"):
        alice.predict(data_file=handle_file(str(empty)), api_name="/upload_data")

    run_id = finished_run(store, "downloads", "succeeded", checkpoint_steps=())
    table = pd.read_csv(anon.predict(run_id=run_id, fmt="csv", api_name="/download_rollouts"))
    assert len(table) == 2 and set(table["step"]) == {1}
    folder = tmp_path / "checkpoint-2"
    folder.mkdir()
    (folder / "adapter_config.json").write_text("{}")
    store.add_checkpoint(run_id, 2, str(folder))
    adapter = anon.predict(run_id=run_id, step=2, api_name="/download_adapter")
    assert zipfile.ZipFile(adapter).namelist() == ["adapter_config.json"]
    with pytest.raises(AppError, match="has no checkpoint at step 3"):
        anon.predict(run_id=run_id, step=3, api_name="/download_adapter")
