"""The worker's health command: is the database ready for this worker, and is the worker live?

A scheduler's probe runs it (Kubernetes startup, readiness and liveness probes, a Slurm prolog, a script check):

    python -m training.worker health [--db URL] [--worker-id ID] [--max-age SECONDS]

Exit code 0 and one line on standard output when the database answers and its schema is this code's (and, with a
worker id, that worker showed a sign of life within --max-age seconds); exit code 1 and the reason on standard error
otherwise; 2 for a bad flag. It only reads (storage/health.py): a probe never migrates the database or writes a row.
The URL comes from NOVER_UI_DB as the worker's does, so no password is on a command line, and it is printed with its
password hidden.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
from collections.abc import Sequence

from storage import StorageError
from storage.health import check_database
from training.commands import DB_ENV
from training.config import HEARTBEAT_TIMEOUT_S

WORKER_ID_ENV = "NOVER_UI_WORKER_ID"
"""The worker's id, read by the worker and by this command alike: in a pod, set it from the pod's name."""


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m training.worker health", description=__doc__.splitlines()[0])
    parser.add_argument("--db", default=os.environ.get(DB_ENV), help=f"database URL (env {DB_ENV})")
    parser.add_argument(
        "--worker-id",
        default=os.environ.get(WORKER_ID_ENV) or None,
        help=f"also check that this worker is live (env {WORKER_ID_ENV}; default: the database only)",
    )
    parser.add_argument(
        "--max-age",
        type=float,
        default=HEARTBEAT_TIMEOUT_S,
        metavar="SECONDS",
        help=f"how long the worker may have been silent (default {HEARTBEAT_TIMEOUT_S:g}, the heartbeat timeout "
        "after which its run counts as abandoned)",
    )
    args = parser.parse_args(argv)
    if not args.db:
        parser.error("--db is required (or set NOVER_UI_DB, as for the worker)")
    if not (math.isfinite(args.max_age) and args.max_age > 0):
        parser.error(f"--max-age must be a number of seconds > 0, e.g. {HEARTBEAT_TIMEOUT_S:g}; got {args.max_age}")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        health = check_database(args.db, args.worker_id, args.max_age)
    except StorageError as exc:
        print(f"unhealthy: {exc}", file=sys.stderr)
        return 1
    line = f"healthy: {health.url} at schema {health.revision}"
    if health.worker_seen_s is not None:
        line += f"; worker {args.worker_id!r} seen {health.worker_seen_s:.0f} s ago"
    print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
