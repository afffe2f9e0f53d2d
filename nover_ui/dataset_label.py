"""How a run's or a job's data is named on screen: the uploaded file's own name, never the stored copy's hash."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import PurePath
from typing import Any


def dataset_label(config: Mapping[str, Any]) -> str:
    """The name a person gave the data: `dataset_name` when the data was uploaded, else the file name of a path,
    else the dataset as written ('builtin:demo', a hub id, with the config name chosen for it). Plain text: callers
    escape it for their markup.

    >>> dataset_label({"dataset": "/home/u/uploads/3f9a.csv", "dataset_name": "econ mcq.csv"})
    'econ mcq.csv'
    >>> dataset_label({"dataset": "/data/translation.jsonl"})
    'translation.jsonl'
    >>> dataset_label({"dataset": "builtin:demo"})
    'builtin:demo'
    >>> dataset_label({"dataset": "openai/gsm8k", "dataset_config": "main"})
    'openai/gsm8k (main)'
    >>> dataset_label({})
    ''
    """
    if config.get("dataset_name"):
        return str(config["dataset_name"])
    dataset = str(config.get("dataset") or "")
    if "/" in dataset and PurePath(dataset).suffix:
        return PurePath(dataset).name
    if config.get("dataset_config"):
        return f"{dataset} ({config['dataset_config']})"
    return dataset
