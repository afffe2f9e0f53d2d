"""`python -m bench.counted_app_entry ARGS`: tests/app_entry.py's app, counting the Store reads of the dashboard
process (its workers are other processes) into HOME/store_reads.json, rewritten every 0.1 s as
{"at": unix time, "counts": {method: calls, "runs_version changes": distinct versions read}}, so a benchmark sees
how many database reads its readers caused per change of the data."""

import argparse
import collections
import functools
import json
import sys
import threading
import time
from pathlib import Path

import app
from storage import Store

COUNTED = ("runs_version", "run_steps", "list_runs", "get_run", "get_metrics", "get_rollouts", "rollout_steps")
DUMP_EVERY_S = 0.1

counts: collections.Counter[str] = collections.Counter()
versions: set[tuple[int, ...]] = set()
lock = threading.Lock()


def counting(name: str):
    read = getattr(Store, name)

    @functools.wraps(read)
    def counted(*args, **kwargs):
        with lock:
            counts[name] += 1
        value = read(*args, **kwargs)
        if name == "runs_version":
            with lock:
                versions.add(value)
                counts["runs_version changes"] = len(versions)
        return value

    return counted


def dump_forever(path: Path) -> None:
    while True:
        with lock:
            snapshot = {"at": time.time(), "counts": dict(counts)}
        path.with_suffix(".tmp").write_text(json.dumps(snapshot))
        path.with_suffix(".tmp").replace(path)  # a reader never sees half a file
        time.sleep(DUMP_EVERY_S)


if __name__ == "__main__":
    home = argparse.ArgumentParser(add_help=False)
    home.add_argument("--home", type=Path, required=True)
    for name in COUNTED:
        setattr(Store, name, counting(name))
    path = home.parse_known_args()[0].home / "store_reads.json"
    threading.Thread(target=dump_forever, args=(path,), daemon=True).start()
    sys.exit(app.main(sys.argv[1:], worker_module="tests.worker_entry"))
