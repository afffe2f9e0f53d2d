"""Data through Hugging Face `datasets`, for real and offline: a dataset repository folder read by config name (as
a hub dataset is), and folders written by save_to_disk."""

import os
import re

import datasets
import pandas as pd
import pytest

from training.data import DataError, load_examples

README = """---
configs:
- config_name: main
  data_files:
  - split: train
    path: main/train.jsonl
  - split: test
    path: main/test.jsonl
- config_name: socratic
  data_files:
  - split: train
    path: socratic/train.jsonl
---
A dataset repository with two configs, laid out as on the hub (gsm8k has 'main' and 'socratic').
"""


@pytest.fixture(scope="module")
def repository(tmp_path_factory):
    folder = tmp_path_factory.mktemp("repo")
    for config, split, rows in [
        ("main", "train", [("What is 2+2?", 4), ("What is 3+3?", 6)]),
        ("main", "test", [("What is 5+5?", 10)]),
        ("socratic", "train", [("Why is 2+2 four?", 4)]),
    ]:
        (folder / config).mkdir(exist_ok=True)
        pd.DataFrame(rows, columns=["question", "answer"]).to_json(
            folder / config / f"{split}.jsonl", orient="records", lines=True
        )
    (folder / "README.md").write_text(README)
    return str(folder)


def qa(data):
    return [(e.prompt, e.reference, e.split) for e in data.examples]


def test_a_config_name_chooses_the_config_of_a_dataset_repository(repository):
    def load(config_name, split="train"):
        return load_examples(repository, "question", "answer", split=split, config_name=config_name)

    assert qa(load("main")) == [("What is 2+2?", "4", "train"), ("What is 3+3?", "6", "train")]
    assert qa(load("main", "test")) == [("What is 5+5?", "10", "test")]
    assert qa(load("socratic")) == [("Why is 2+2 four?", "4", "train")]
    # datasets' own errors list the configs there are; the message names them and the field to set.
    with pytest.raises(
        DataError, match=r"has no config 'nope'; its configs are 'main', 'socratic'; set dataset_config"
    ):
        load("nope")
    with pytest.raises(DataError, match=r"needs a config name; its configs are 'main', 'socratic'; set dataset_config"):
        load(None)


def test_a_config_name_with_data_that_has_no_configs_is_refused(tmp_path):
    path = tmp_path / "rows.csv"
    path.write_text("prompt,reference\nq,r\n")
    datasets.Dataset.from_dict({"prompt": ["q"], "reference": ["r"]}).save_to_disk(tmp_path / "saved")
    for source, what in [
        (str(path), "a data file"),
        ("builtin:demo", "a built-in set"),
        (str(tmp_path / "saved"), "a folder saved with save_to_disk"),
    ]:
        with pytest.raises(DataError, match=f"dataset_config 'main' names a config .* is {what}, which has none"):
            load_examples(source, config_name="main")
    assert qa(load_examples(str(path), config_name="")) == [("q", "r", None)]  # empty: no config


MESSAGES = [
    [{"role": "user", "content": "What is 2+2?"}, {"role": "assistant", "content": "4"}],
    [{"role": "user", "content": "Capital of France?"}, {"role": "assistant", "content": "Paris"}],
]


def test_a_saved_dataset_and_a_saved_dataset_dict_are_read_by_split(tmp_path):
    plain = datasets.Dataset.from_dict({"question": ["q1", "q2"], "answer": ["a1", ""], "split": ["train", "test"]})
    plain.save_to_disk(tmp_path / "one")
    data = load_examples(str(tmp_path / "one"), "question", "answer", split=None)
    assert qa(data) == [("q1", "a1", "train")] and data.skipped == ((2, "empty reference"),)
    assert qa(load_examples(str(tmp_path / "one"), "question", "answer", split="train")) == [("q1", "a1", "train")]

    chat = datasets.Dataset.from_dict({"messages": MESSAGES})
    datasets.DatasetDict({"train": chat, "test": chat.select([1])}).save_to_disk(tmp_path / "dict")
    train = load_examples(str(tmp_path / "dict"))
    assert qa(train) == [("What is 2+2?", "4", "train"), ("Capital of France?", "Paris", "train")]
    assert train.messages_column == "messages"
    assert qa(load_examples(str(tmp_path / "dict"), split="test")) == [("Capital of France?", "Paris", "test")]
    with pytest.raises(DataError, match=r"dict: no split 'validation'; the saved DatasetDict holds 'test', 'train'"):
        load_examples(str(tmp_path / "dict"), split="validation")


def test_a_saved_folder_over_the_limits_is_refused_before_it_is_read(tmp_path):
    datasets.Dataset.from_dict({"prompt": [f"q{i}" for i in range(50)], "reference": ["r"] * 50}).save_to_disk(
        tmp_path / "saved"
    )
    arrow = sum(f.stat().st_size for f in (tmp_path / "saved").glob("*.arrow"))
    with pytest.raises(DataError, match=r"saved holds .* of arrow files, over the 1.0 KB limit"):
        load_examples(str(tmp_path / "saved"), max_bytes=1024)
    with pytest.raises(DataError, match=r"saved has 50 rows, over the limit of 49"):
        load_examples(str(tmp_path / "saved"), row_limit=49)
    assert len(load_examples(str(tmp_path / "saved"), max_bytes=arrow, row_limit=50).examples) == 50


def test_a_saved_folder_may_not_point_datasets_at_files_outside_it(tmp_path):
    datasets.Dataset.from_dict({"prompt": ["q"], "reference": ["r"]}).save_to_disk(tmp_path / "outside")
    inside = tmp_path / "allowed" / "saved"
    inside.mkdir(parents=True)
    for name in ("state.json", "dataset_info.json"):
        (inside / name).write_bytes((tmp_path / "outside" / name).read_bytes())
    (arrow,) = (tmp_path / "outside").glob("*.arrow")
    os.symlink(arrow, inside / arrow.name)  # the metadata is the folder's own; the data file is elsewhere
    with pytest.raises(DataError, match=re.escape("saved names a file outside its own folder")):
        load_examples(str(inside))
    tricky = tmp_path / "allowed" / "dict"
    tricky.mkdir()
    (tricky / "dataset_dict.json").write_text('{"splits": ["../../outside"]}')
    with pytest.raises(DataError, match=re.escape("dict names a file outside its own folder")):
        load_examples(str(tricky), split="../../outside")
