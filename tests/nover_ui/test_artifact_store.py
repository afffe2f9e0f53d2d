"""The dashboard with an artifact store (app.py --artifacts) against a real S3-compatible server (moto,
tests/conftest.py s3_artifacts): uploads go to the store and runs record their URL, checkpoints and merged models a
worker published there are downloaded from it, Delete removes a run's keys there, and only the store's own URLs are
accepted."""

from __future__ import annotations

import functools
import zipfile
from pathlib import Path

import pytest
from gradio_client import handle_file

from nover_ui.evaluate_tab import adapter_file, build_evaluate
from nover_ui.merge_actions import MergeRefused, merged_zip
from nover_ui.places import PlaceRefused, Places
from nover_ui.queue import queue_evaluations, queue_run
from nover_ui.run_actions import delete_run
from nover_ui.runs_tab import act_on_run
from nover_ui.train_data import upload
from nover_ui.train_state import restore
from nover_ui.train_tab import queue
from tests.helpers import free_port
from tests.nover_ui.tab_fixtures import build_tabs, built
from tests.nover_ui.test_api import serve
from tests.nover_ui.test_train_handlers import form, upload_args
from tests.object_store import CREDENTIALS
from training.artifacts import ArtifactError, Artifacts

DATA = "question,answer\nWhat is 2+2?,4\nName a primary colour.,red\n"


@pytest.fixture
def tabs(store, tmp_path, s3_artifacts):
    home = tmp_path / "dashboard"
    return build_tabs(store, home, artifacts=Artifacts(s3_artifacts, home))


def worker_wrote(s3_artifacts: str, home: Path, key: str, files: dict[str, bytes]) -> str:
    """A folder written under another machine's HOME and published to the store, as a worker does; its URL."""
    folder = home / key
    for name, content in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(content)
    return Artifacts(s3_artifacts, home).publish(folder, key)


def in_store(s3_artifacts: str, url: str, reader_home: Path) -> bytes | None:
    """What a machine with an empty HOME fetches from `url`, or None when the store holds nothing there."""
    try:
        fetched = Artifacts(s3_artifacts, reader_home).local(url)
    except ArtifactError:
        return None
    return fetched.read_bytes() if fetched.is_file() else b"folder"


def test_an_upload_lands_in_the_store_and_the_queued_run_names_its_url(store, tabs, tmp_path, s3_artifacts):
    train, dashboard = tabs.train, tabs.dashboard
    data = tmp_path / "qa.csv"
    data.write_text(DATA)
    kept = upload(str(data), *upload_args(), dashboard=dashboard, tab=train)[train.widgets["dataset"]]
    assert Path(kept).parent == dashboard.places.uploads  # previewed from the local copy, as without a store
    url = f"{s3_artifacts}/uploads/{Path(kept).name}"
    assert in_store(s3_artifacts, url, tmp_path / "worker") == DATA.encode()

    values = dict(dataset=kept, dataset_name="qa.csv", prompt_column="question", reference_column="answer")
    queued = queue(None, "cpu-demo", "remote", *form(max_steps=1, **values), dashboard=dashboard, tab=train)
    assert queued[train.status_md].startswith("Queued run")
    [run] = store.list_runs()
    assert run.config["dataset"] == url

    # The Evaluate tab's data, uploaded the same way, is recorded by its URL too.
    queue_evaluations(store, run.id, [], True, "test", 1, 1, 0, dataset=kept, places=dashboard.places)
    assert [job.dataset for job in store.list_evaluations()] == [url]

    # The form restored after a reload keeps the URL (a cloned run's data); a foreign URL is dropped.
    saved = {"values": {**values, "dataset": url}}
    assert restore(saved, None, dashboard=dashboard, tab=train)[train.widgets["dataset"]]["value"] == url
    foreign = {"values": {**values, "dataset": "s3://elsewhere/nover/uploads/x.csv"}}
    assert restore(foreign, None, dashboard=dashboard, tab=train)[train.widgets["dataset"]]["value"] == ""

    # The URL itself (what /upload_data returns with a store) is accepted and read, here from the store's copy.
    elsewhere = Places(tmp_path / "other-dashboard", artifacts=Artifacts(s3_artifacts, tmp_path / "other-dashboard"))
    again = queue_run(store, "by url", {**values, "dataset": url, "max_steps": 1}, elsewhere)
    assert again.config["dataset"] == url


def test_places_accept_only_the_stores_own_upload_urls(tmp_path, s3_artifacts):
    places = Places(tmp_path, artifacts=Artifacts(s3_artifacts, tmp_path))
    places.check_data(f"{s3_artifacts}/uploads/3f9a.csv")
    refused = [
        "s3://elsewhere/nover/uploads/3f9a.csv",  # another bucket
        f"{s3_artifacts}-other/uploads/3f9a.csv",  # a store whose name begins like this one's
        f"{s3_artifacts}/runs/1/checkpoint-2",  # this store, but not an upload
        f"{s3_artifacts}/uploads/../runs/1/x.csv",
        f"{s3_artifacts}/uploads/a/b.csv",
        f"{s3_artifacts}/uploads/",
        "file:///etc/passwd.csv",
    ]
    messages = set()
    for source in refused:
        with pytest.raises(PlaceRefused) as refusal:
            places.check_data(source)
        messages.add(str(refusal.value).replace(repr(source), "SOURCE"))
    assert len(messages) == 1  # the same refusal whatever the URL names
    without = Places(tmp_path)
    with pytest.raises(PlaceRefused):
        without.check_data(f"{s3_artifacts}/uploads/3f9a.csv")
    with pytest.raises(PlaceRefused, match="not in this dashboard's artifact store"):
        places.checkpoint_folder(f"{s3_artifacts}/runs/2/checkpoint-2", 1)  # another run's key
    with pytest.raises(PlaceRefused, match="not in this dashboard's artifact store"):
        places.checkpoint_folder(f"{s3_artifacts}/uploads/3f9a.csv", 1)
    assert places.export_folder(f"{s3_artifacts}/runs/1/checkpoint-2") is None


def test_a_checkpoint_published_by_a_worker_is_downloaded_as_the_same_files(store, tabs, tmp_path, s3_artifacts):
    run = store.create_run("remote", {"max_steps": 2})
    files = {"adapter_model.safetensors": b"\0weights" * 50, "proxy/adapter_model.safetensors": b"proxy"}
    url = worker_wrote(s3_artifacts, tmp_path / "worker", f"runs/{run.id}/checkpoint-2", files)
    store.add_checkpoint(run.id, 2, url)
    tab = built(build_evaluate, tabs.dashboard)

    offered = adapter_file(tabs.dashboard, tab, run.id, 2)[tab.download_file]["value"]

    with zipfile.ZipFile(offered) as archive:
        assert {name: archive.read(name) for name in archive.namelist() if not name.endswith("/")} == files


def test_a_merged_model_in_the_store_is_downloaded_and_a_foreign_url_refused(store, tabs, tmp_path, s3_artifacts):
    run = store.create_run("remote", {"max_steps": 2})
    store.add_checkpoint(run.id, 2, f"{s3_artifacts}/runs/{run.id}/checkpoint-2")
    key = f"exports/run-{run.id}-step-2-merged"
    files = {"config.json": b"{}", "model.safetensors": b"\0" * 100}
    url = worker_wrote(s3_artifacts, tmp_path / "worker", key, files)
    job = store.queue_evaluation("merge", "m", "d", {}, run.id, 2)
    store.claim_next_evaluation("w")
    store.finish_evaluation(job.id, "succeeded", {"path": url, "bytes": 100})
    dashboard = tabs.dashboard

    zipped = merged_zip(store, run.id, 2, dashboard.home, dashboard.downloads, dashboard.places)

    with zipfile.ZipFile(zipped) as archive:
        assert {name: archive.read(name) for name in archive.namelist()} == files
    job = store.queue_evaluation("merge", "m", "d", {}, run.id, 2)
    store.claim_next_evaluation("w")
    store.finish_evaluation(job.id, "succeeded", {"path": "s3://elsewhere/nover/exports/x", "bytes": 1})
    with pytest.raises(MergeRefused, match="not in this dashboard's artifact store"):
        merged_zip(store, run.id, 2, dashboard.home, dashboard.downloads, dashboard.places)


def test_delete_removes_the_runs_keys_and_merged_models_from_the_store(store, tabs, tmp_path, s3_artifacts):
    dashboard, worker = tabs.dashboard, tmp_path / "worker"
    run, other = store.create_run("gone", {}), store.create_run("kept", {})
    gone = worker_wrote(s3_artifacts, worker, f"runs/{run.id}/checkpoint-2", {"adapter.bin": b"a"})
    kept = worker_wrote(s3_artifacts, worker, f"runs/{other.id}/checkpoint-2", {"adapter.bin": b"b"})
    merged = worker_wrote(s3_artifacts, worker, f"exports/run-{run.id}-step-2-merged", {"config.json": b"{}"})
    store.add_checkpoint(run.id, 2, gone)
    store.add_checkpoint(other.id, 2, kept)
    job = store.queue_evaluation("merge", "m", "d", {}, run.id, 2)
    store.claim_next_evaluation("w")
    store.finish_evaluation(job.id, "succeeded", {"path": merged, "bytes": 2})
    dashboard.places.checkpoint_folder(gone, run.id)  # fetched into the dashboard's cache
    cached = dashboard.home / "artifact-cache" / "runs" / str(run.id)
    assert cached.is_dir()

    delete_run(store, run.id, dashboard.home, dashboard.artifacts)  # as the Runs tab and /delete_run call it

    assert [r.id for r in store.list_runs()] == [other.id]
    assert in_store(s3_artifacts, gone, tmp_path / "reader-1") is None
    assert in_store(s3_artifacts, merged, tmp_path / "reader-2") is None
    assert in_store(s3_artifacts, kept, tmp_path / "reader-3") == b"folder"
    assert not cached.exists()


def test_a_store_that_fails_during_delete_is_reported_and_the_run_is_deleted_anyway(
    store, tmp_path, s3_artifacts, monkeypatch
):
    run = store.create_run("gone", {})
    store.add_checkpoint(run.id, 2, worker_wrote(s3_artifacts, tmp_path / "worker", f"runs/{run.id}/c", {"a": b"a"}))
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", f"http://127.0.0.1:{free_port()}")  # the store goes away
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    home = tmp_path / "dashboard"
    tabs = build_tabs(store, home, artifacts=Artifacts(s3_artifacts, home))
    runs, dashboard = tabs.runs, tabs.dashboard
    delete = functools.partial(delete_run, home=dashboard.home, artifacts=dashboard.artifacts)  # as the Runs tab's

    said = act_on_run(run.id, None, action=delete, done="Deleted.", what="delete runs", dashboard=dashboard, tab=runs)

    message = said[runs.action_md]
    assert message.startswith("**Deleted, with a problem:** run") and f"cannot delete runs\\/{run.id}" in message
    assert store.list_runs() == []


def test_no_credential_lands_in_the_database(store, tabs, tmp_path, s3_artifacts, db_url):
    train, dashboard = tabs.train, tabs.dashboard
    data = tmp_path / "qa.csv"
    data.write_text(DATA)
    kept = upload(str(data), *upload_args(), dashboard=dashboard, tab=train)[train.widgets["dataset"]]
    values = dict(dataset=kept, dataset_name="qa.csv", prompt_column="question", reference_column="answer")
    queue(None, "cpu-demo", "remote", *form(max_steps=1, **values), dashboard=dashboard, tab=train)
    store.close()
    database = Path(db_url.removeprefix("sqlite:///"))
    held = b"".join(path.read_bytes() for path in database.parent.glob(database.name + "*"))
    assert b"uploads/" in held  # the run's row, with the upload's URL
    assert not any(secret.encode() in held for secret in CREDENTIALS.values())


def test_the_api_uploads_to_the_store_and_downloads_an_adapter_from_it(store, tmp_path, s3_artifacts):
    home = tmp_path / "dashboard"
    app, client = serve(store, home, artifacts=Artifacts(s3_artifacts, home))
    try:
        data = tmp_path / "qa.csv"
        data.write_text(DATA)
        kept = client.predict(data_file=handle_file(str(data)), api_name="/upload_data")
        assert kept["dataset"].startswith(f"{s3_artifacts}/uploads/")
        assert in_store(s3_artifacts, kept["dataset"], tmp_path / "worker") == DATA.encode()
        config = {"dataset": kept["dataset"], "prompt_column": "question", "reference_column": "answer"}
        run = client.predict(config={**config, "max_steps": 1}, api_name="/queue_run")
        assert run["config"]["dataset"] == kept["dataset"]

        files = {"adapter_model.safetensors": b"\0weights", "optimizer.pt": b"optimizer"}
        store.add_checkpoint(run["id"], 1, worker_wrote(s3_artifacts, tmp_path / "w", f"runs/{run['id']}/c-1", files))
        adapter = client.predict(run_id=run["id"], step=1, api_name="/download_adapter")
        with zipfile.ZipFile(adapter) as archive:
            assert {name: archive.read(name) for name in archive.namelist() if not name.endswith("/")} == files
    finally:
        app.close()
