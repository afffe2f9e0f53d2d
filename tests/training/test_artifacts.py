"""The artifact store (training/artifacts.py) against a real S3-compatible server and a local folder."""

from __future__ import annotations

from pathlib import Path

import pytest

from training.artifacts import CACHE, ArtifactError, Artifacts


def checkpoint(folder: Path) -> Path:
    (folder / "proxy").mkdir(parents=True)
    (folder / "adapter_model.safetensors").write_bytes(b"\x00weights" * 100)
    (folder / "proxy" / "adapter_model.safetensors").write_bytes(b"proxy")
    (folder / "optimizer.pt").write_bytes(b"optimizer")
    return folder


def files(folder: Path) -> dict[str, bytes]:
    return {path.relative_to(folder).as_posix(): path.read_bytes() for path in folder.rglob("*") if path.is_file()}


def test_a_folder_published_on_one_machine_is_fetched_whole_on_another(s3_artifacts, tmp_path):
    writer = Artifacts(s3_artifacts, tmp_path / "home-a")
    written = checkpoint(tmp_path / "home-a" / "runs" / "3" / "checkpoint-2")

    url = writer.publish(written, "runs/3/checkpoint-2")

    assert url == f"{s3_artifacts}/runs/3/checkpoint-2"
    reader = Artifacts(s3_artifacts, tmp_path / "home-b")
    fetched = reader.local(url)
    assert fetched == tmp_path / "home-b" / CACHE / "runs" / "3" / "checkpoint-2"
    assert files(fetched) == files(written)
    assert reader.local(url) == fetched  # fetched once, then read from the cache


def test_a_single_file_round_trips_and_remove_deletes_it_from_the_store_and_the_cache(s3_artifacts, tmp_path):
    upload = tmp_path / "home-a" / "uploads" / "9f.csv"
    upload.parent.mkdir(parents=True)
    upload.write_text("prompt,reference\nq,a\n")
    writer = Artifacts(s3_artifacts, tmp_path / "home-a")
    url = writer.publish(upload, "uploads/9f.csv")
    reader = Artifacts(s3_artifacts, tmp_path / "home-b")
    assert reader.local(url).read_text() == "prompt,reference\nq,a\n"

    reader.remove("uploads/9f.csv")

    assert not (tmp_path / "home-b" / CACHE / "uploads" / "9f.csv").exists()
    with pytest.raises(ArtifactError, match="cannot fetch"):
        Artifacts(s3_artifacts, tmp_path / "home-c").local(url)


def test_without_a_store_files_stay_where_they_are(tmp_path):
    local = Artifacts(None, tmp_path)
    folder = checkpoint(tmp_path / "runs" / "1" / "checkpoint-1")
    assert local.publish(folder, "runs/1/checkpoint-1") == str(folder)
    assert local.local(str(folder)) == folder
    assert not local.owns(str(folder))


def test_a_folder_url_works_like_a_bucket(tmp_path):
    store = Artifacts(str(tmp_path / "shared"), tmp_path / "home-a")
    url = store.publish(checkpoint(tmp_path / "made"), "runs/1/checkpoint-1")
    assert files(Artifacts(str(tmp_path / "shared"), tmp_path / "home-b").local(url)) == files(tmp_path / "made")


def test_only_keys_inside_the_store_are_its_own(s3_artifacts, tmp_path):
    store = Artifacts(s3_artifacts, tmp_path)
    assert store.owns(f"{s3_artifacts}/runs/1/checkpoint-1")
    assert not store.owns(f"{s3_artifacts}/../other/secret")
    assert not store.owns(f"{s3_artifacts}-other/runs/1")
    assert not store.owns("s3://elsewhere/runs/1")
    with pytest.raises(ArtifactError, match="not in this machine's artifact store"):
        store.local("s3://elsewhere/runs/1")
    with pytest.raises(ArtifactError, match="not an artifact key"):
        store.url("../escape")


def test_credentials_in_the_url_are_refused_and_an_unreachable_store_says_what_to_check(tmp_path, monkeypatch):
    with pytest.raises(ArtifactError, match="must not carry credentials"):
        Artifacts("s3://key:secret@bucket/prefix", tmp_path)
    with pytest.raises(ArtifactError, match="fsspec cannot open"):
        Artifacts("nosuchprotocol://bucket", tmp_path)
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", "http://127.0.0.1:9")  # nothing listens there
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "k")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "s")
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    with pytest.raises(ArtifactError, match="cannot reach the artifact store .*AWS_ACCESS_KEY_ID"):
        Artifacts("s3://unreachable/prefix", tmp_path).check()
