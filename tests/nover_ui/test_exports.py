import json
import zipfile

import pandas as pd
import pytest

from nover_ui.downloads import Downloads
from nover_ui.exports import write_table, zip_checkpoint
from tests.helpers import rollout_row


@pytest.fixture
def downloads(tmp_path):
    return Downloads(tmp_path / "downloads")


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_rollouts_export_round_trips_every_field(store, fmt, downloads):
    run = store.start_run(store.create_run("r", {}).id, "w")
    row = rollout_row(0, 0, completion='<think>"a", b</think>\nline 2', flags=["repetition"], flags_version=1)
    store.log_step(run.id, 1, rollouts=[row])
    [record] = store.get_rollouts(run.id)
    path = write_table([record], f"run-{run.id}-rollouts", fmt, downloads)
    frame = pd.read_parquet(path) if fmt == "parquet" else pd.read_csv(path)
    row = frame.iloc[0]
    assert path.name == f"run-{run.id}-rollouts.{fmt}"
    assert (row["completion"], row["reward"], bool(row["format_valid"])) == (record.completion, 1.5, True)
    assert json.loads(row["extras"]) == record.extras
    assert json.loads(row["flags"]) == ["repetition"] and row["flags_version"] == 1


def test_export_refuses_an_empty_table_and_an_unknown_format(downloads):
    with pytest.raises(ValueError, match="no rows yet"):
        write_table([], "empty", "csv", downloads)
    with pytest.raises(ValueError, match="parquet, csv"):
        write_table([object()], "x", "xlsx", downloads)


def test_a_checkpoint_is_zipped_with_its_files(tmp_path, downloads):
    checkpoint = tmp_path / "checkpoint-2"
    (checkpoint / "ref").mkdir(parents=True)
    (checkpoint / "adapter_model.safetensors").write_bytes(b"weights")
    (checkpoint / "ref" / "adapter_config.json").write_text("{}")
    archive = zip_checkpoint(checkpoint, "run-1-step-2", downloads)
    assert archive.name == "run-1-step-2.zip"
    assert sorted(zipfile.ZipFile(archive).namelist()) == [
        "adapter_model.safetensors",
        "ref/",
        "ref/adapter_config.json",
    ]
    with pytest.raises(FileNotFoundError, match="not on this machine"):
        zip_checkpoint(tmp_path / "missing", "x", downloads)


def test_downloads_keep_a_bounded_number_and_size_of_files(tmp_path):
    downloads = Downloads(tmp_path / "downloads", max_files=3, max_bytes=10_000)
    made = []
    for i in range(5):
        path = downloads.new_path(f"file-{i}.csv")
        path.write_bytes(b"x" * 100)
        made.append(path)
    assert [path.exists() for path in made] == [False, False, True, True, True]
    big = downloads.new_path("big.zip")
    big.write_bytes(b"x" * 20_000)  # over max_bytes on its own: kept until the next file is made
    after = downloads.new_path("next.csv")
    assert not big.exists() and after.parent.is_dir() and len(list((tmp_path / "downloads").iterdir())) <= 3
