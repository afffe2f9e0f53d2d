"""The command line of a run: what `python -m training.run` (or `accelerate launch ... -m training.run`) takes to
train a config, and how its --set words are read back.

Standard library only: the dashboard shows a config's command next to its form (nover_ui/train_tab.py), the
worker records it on the run and the launcher (training/launch.py) starts it.
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from training.config import PRESETS, ConfigError, RunConfig

ACCELERATE_CONFIGS = {"ddp": "training/accelerate/ddp.yaml", "zero2": "training/accelerate/deepspeed_zero2.yaml"}
"""accelerate's config file for each RunConfig.distributed, relative to the project folder."""
DB_ENV = "NOVER_UI_DB"
"""Where a launched run's processes find the database URL (`training.run --run-id`), as the worker does: off the
command line, which `ps` shows to every user of the machine (the URL may hold a password)."""


def parse_assignment(text: str) -> tuple[str, Any]:
    """'key=value' -> (key, value); the value is read as JSON when it parses (8, 1e-5, true), else as text."""
    key, sep, raw = text.partition("=")
    if not sep or not key:
        raise ConfigError(None, f"--set takes key=value, got {text!r}")
    try:
        return key.strip(), json.loads(raw)
    except json.JSONDecodeError:
        return key.strip(), raw


def build_config(preset_name: str | None, config_file: Path | None, assignments: Sequence[str]) -> RunConfig:
    values: dict[str, Any] = dict(PRESETS[preset_name]) if preset_name else {}
    if config_file is not None:
        values.update(RunConfig.from_json(config_file.read_text()).to_dict())
    values.update(parse_assignment(a) for a in assignments)
    return RunConfig.from_dict(values)


def command_line(config: RunConfig, launcher: str = "python", resume_from: Path | str | None = None) -> str:
    """The shortest command that reproduces `config`: only the fields that differ from the defaults, and, for
    uploaded data, a trailing comment with the file's own name (the --set words name the stored copy).

    >>> print(command_line(RunConfig(dataset="/h/uploads/3f9a.csv", dataset_name="econ mcq.csv")))
    python -m training.run --set dataset=/h/uploads/3f9a.csv --set 'dataset_name=econ mcq.csv'  # data: econ mcq.csv
    """
    defaults = RunConfig().to_dict()
    words = [
        f"--set {shlex.quote(f'{key}={_set_text(value)}')}"
        for key, value in config.to_dict().items()
        if defaults[key] != value
    ]
    if resume_from is not None:
        words.append(f"--resume-from {shlex.quote(str(resume_from))}")
    if launcher == "accelerate":
        words.insert(0, " ".join([*accelerate_words(config), "-m", "training.run"]))
    else:
        words.insert(0, "python -m training.run")
    if config.dataset_name:
        words.append(data_comment(config.dataset_name))
    return " ".join(words)


def accelerate_words(config: RunConfig) -> list[str]:
    """`accelerate launch` and its flags for `config`, before `-m training.run`. accelerate's --num_processes counts
    the processes of all machines (RunConfig.world_size); --num_machines only when there are several, whose machine
    rank and rank 0's address and port each machine's worker adds when it launches (training/launch.py).

    >>> " ".join(accelerate_words(RunConfig(num_processes=2, num_machines=2, prompts_per_step=1)))
    'accelerate launch --config_file training/accelerate/ddp.yaml --num_processes 4 --num_machines 2'
    """
    words = ["accelerate", "launch", "--config_file", ACCELERATE_CONFIGS[config.distributed]]
    words += ["--num_processes", str(config.world_size)]
    if config.num_machines > 1:
        words += ["--num_machines", str(config.num_machines)]
    return words


def data_comment(name: str) -> str:
    """`  # data: <name>` for the end of a command line. A shell comment runs to the end of the line, so only a
    line break (or another control character) in the name could end it early: each becomes a space.

    >>> data_comment("a.csv\\nrm -rf ~")
    ' # data: a.csv rm -rf ~'
    """
    shown = "".join(char if char.isprintable() else " " for char in name)
    return f" # data: {shown}"


def run_command(config: RunConfig, resume_from: Path | str | None = None) -> str:
    """The command a worker trains `config` with: accelerate launch when it asks for several processes (on one
    machine or several). `resume_from`: a checkpoint folder, or its URL in the artifact store (training.run fetches it
    with --artifacts)."""
    return command_line(config, "accelerate" if config.world_size > 1 else "python", resume_from)


def _set_text(value: Any) -> str:
    """A value as --set writes it, so parse_assignment reads back the same value (the text '2024' stays text)."""
    if isinstance(value, str):
        try:
            json.loads(value)
        except json.JSONDecodeError:
            return value
    return json.dumps(value)
