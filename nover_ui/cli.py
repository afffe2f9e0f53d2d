"""The dashboard's runs in a terminal, read straight from its database (no dashboard needs to be running).

    python -m nover_ui.cli --db URL runs            # a table: id, name, status, step/total, reward
    python -m nover_ui.cli --db URL follow RUN_ID   # a progress bar until the run ends

`follow` polls Store.runs_version (one small aggregate query) and re-reads the run and its latest reward and loss
only when that moved. It ends when the run does, printing its status: exit 0 for succeeded, 1 for failed or
cancelled, 2 for a run that does not exist. Ctrl-C stops following and leaves the run alone (exit 130).
Queue a run from the terminal with `python -m training.run --queue --db URL ...`.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Sequence
from typing import TextIO

from tqdm import tqdm

from nover_ui.number_text import number_text
from storage import TERMINAL_STATUSES, RunRecord, Status, StorageError, Store

POLL_S = 1.0
"""How often `follow` reads the runs' version: one small query, so a terminal can follow a run all day."""
SHOWN_METRICS = ("reward", "loss")
NAME_CHARS = 40


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m nover_ui.cli", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--db",
        default=os.environ.get("NOVER_UI_DB"),
        help="the dashboard's database URL, e.g. sqlite:///.nover_ui/nover_ui.db (env NOVER_UI_DB)",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("runs", help="list every run, newest first")
    follow_parser = commands.add_parser("follow", help="a progress bar of one run until it ends")
    follow_parser.add_argument("run_id", type=int)
    follow_parser.add_argument("--every", type=float, default=POLL_S, help="seconds between polls (default 1)")
    args = parser.parse_args(argv)
    if not args.db:
        parser.error("--db URL is required (or set NOVER_UI_DB)")
    try:
        store = Store(args.db)
    except StorageError as exc:
        print(f"nover_ui.cli: {exc}", file=sys.stderr)
        return 2
    try:
        if args.command == "runs":
            print(runs_table(store))
            return 0
        return follow(store, args.run_id, args.every)
    except StorageError as exc:
        print(f"nover_ui.cli: {exc}", file=sys.stderr)
        return 2
    finally:
        store.close()


def runs_table(store: Store) -> str:
    """Every run as a fixed-width table, newest first, with its latest reward."""
    runs = store.list_runs()
    rewards = store.latest_metrics([run.id for run in runs], "reward") if runs else {}
    rows = [("id", "name", "status", "step", "reward")]
    for run in runs:
        reward = rewards[run.id].values[-1] if run.id in rewards else None
        rows.append((str(run.id), _shown(run.name), run.status, _progress(run), number_text(reward)))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip() for row in rows)


def follow(store: Store, run_id: int, every_s: float = POLL_S, out: TextIO = sys.stdout) -> int:
    """A progress bar (on stderr) of the run's steps with its latest reward and loss, until it ends; then its
    status on `out`. Returns the exit status (module docstring)."""
    run = store.get_run(run_id)
    print(f"following run {run.id} ({_shown(run.name)}): {run.status}; Ctrl-C stops following, not the run", file=out)
    out.flush()
    bar = tqdm(total=_total(run), initial=run.step, unit="step", desc=f"run {run.id}", dynamic_ncols=True)
    seen = None
    try:
        while True:
            version = store.runs_version()
            if version != seen:
                seen = version
                run = store.get_run(run_id)
                _draw(store, bar, run)
                if run.status in TERMINAL_STATUSES:
                    break
            time.sleep(every_s)  # the poll's period: nothing to wake on across processes but the database
    except KeyboardInterrupt:
        bar.close()
        print(f"stopped following run {run_id}; it goes on (status {run.status})", file=out)
        return 130
    bar.close()
    print(f"run {run.id} {run.status}" + (f": {run.error}" if run.error else ""), file=out)
    return 0 if run.status == Status.SUCCEEDED else 1


def _draw(store: Store, bar: tqdm, run: RunRecord) -> None:
    bar.total = _total(run)
    bar.n = run.step
    latest = {key: store.latest_metrics([run.id], key).get(run.id) for key in SHOWN_METRICS}
    shown = {key: number_text(series.values[-1]) for key, series in latest.items() if series is not None}
    bar.set_postfix({"status": run.phase or run.status, **shown}, refresh=False)
    bar.refresh()


def _total(run: RunRecord) -> int | None:
    total = run.total_steps or run.config.get("max_steps")
    return int(total) if isinstance(total, int | float) else None


def _progress(run: RunRecord) -> str:
    total = _total(run)
    return f"{run.step}/{total}" if total else str(run.step)


def _shown(name: str) -> str:
    """A run's name for a terminal: control characters (which could move the cursor or recolour the screen)
    as spaces, cut to NAME_CHARS."""
    printable = "".join(char if char.isprintable() else " " for char in name)
    return printable if len(printable) <= NAME_CHARS else printable[: NAME_CHARS - 1] + "…"


if __name__ == "__main__":
    sys.exit(main())
