"""Run one NOVER training config without the dashboard, with a progress bar.

    python -m training.run --preset cpu-demo [--set key=value ...] [--config run.json] [--db URL]

With --db the run is recorded in that database like a dashboard run (and shows up there); without it the
metrics stay in memory and only the checkpoints are written (under HOME/runs/cli-TIMESTAMP).
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from training.config import PRESETS, ConfigError, RunConfig, preset


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


def command_line(config: RunConfig, launcher: str = "python") -> str:
    """The shortest command that reproduces `config`: only the fields that differ from the defaults."""
    defaults = RunConfig().to_dict()
    changed = [f"{key}={json.dumps(value) if not isinstance(value, str) else value}"
               for key, value in config.to_dict().items() if defaults[key] != value]
    sets = " ".join(f"--set {shlex.quote(item)}" for item in changed)
    if launcher == "accelerate":
        return f"accelerate launch --num_processes {config.num_processes} -m training.run {sets}".rstrip()
    return f"python -m training.run {sets}".rstrip()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training.run", description=__doc__.splitlines()[0])
    parser.add_argument("--preset", choices=sorted(PRESETS), help="start from a named preset")
    parser.add_argument("--config", type=Path, help="start from a JSON config file (after the preset)")
    parser.add_argument("--set", dest="assignments", action="append", default=[], metavar="KEY=VALUE",
                        help="override one field; repeatable")
    parser.add_argument("--db", help="record the run in this database (e.g. sqlite:///.nover_ui/nover_ui.db)")
    parser.add_argument("--home", type=Path, default=Path(os.environ.get("NOVER_UI_HOME", ".nover_ui")),
                        help="data directory for models and checkpoints (env NOVER_UI_HOME)")
    parser.add_argument("--name", help="run name (default: preset and time)")
    args = parser.parse_args(argv)
    try:
        config = build_config(args.preset, args.config, args.assignments)
    except (ConfigError, OSError) as exc:
        parser.error(str(exc))
    home = args.home.resolve()
    name = args.name or f"{args.preset or 'custom'} {time.strftime('%Y-%m-%d %H:%M')}"
    print(f"config: {command_line(config)}", file=sys.stderr)
    print(f"on several GPUs: {command_line(config.replace(num_processes=max(2, config.num_processes)), 'accelerate')}",
          file=sys.stderr)

    from training.interface import MemorySink, RunContext
    from training.progress import ProgressSink
    from training.trainer import train

    if args.db:
        from training.worker import train_now

        record = train_now(args.db, name, config, home, train,
                           observe=lambda sink: ProgressSink(sink, config.max_steps))
        print(f"run {record.id} {record.status}" + (f": {record.error}" if record.error else ""), file=sys.stderr)
        return 0 if record.status == "succeeded" else 1
    workdir = home / "runs" / f"cli-{time.strftime('%Y%m%d-%H%M%S')}"
    sink = ProgressSink(MemorySink(), config.max_steps)
    try:
        train(config, sink, RunContext(run_id=0, home=home, workdir=workdir))
    finally:
        sink.close()
    print(f"done; checkpoints in {workdir}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
