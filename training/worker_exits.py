"""When a worker ends on its own: the flags a batch scheduler (Slurm, a Kubernetes Job) starts it with.

    --once                 one run or job, then exit (at once when nothing is queued)
    --until-idle           exit at the first look that finds nothing this worker can claim
    --max-runs N           exit after N runs or jobs
    --exit-when-idle S     exit once nothing was claimable for S seconds (since it started or finished its last one)

--max-runs combines with either idle rule; --once is `--max-runs 1 --until-idle` and --until-idle is
`--exit-when-idle 0`, so each of those two stands alone. Every one of these ends is a normal end (exit code 0), which
is what a Job counts as done and an sbatch script as success.
"""

from __future__ import annotations

import argparse
import math
from dataclasses import dataclass


@dataclass(frozen=True)
class ExitRules:
    """When the claim loop stops by itself; the default never does (a worker the app starts, or a service)."""

    max_runs: int | None = None
    """Runs or jobs to run before exiting; None: no limit."""
    idle_s: float | None = None
    """Seconds with nothing claimable before exiting; 0: at the first empty look; None: wait for work forever."""

    def __post_init__(self) -> None:
        if self.max_runs is not None and self.max_runs < 1:
            raise ValueError(f"max_runs must be >= 1 (runs or jobs before the worker exits), got {self.max_runs}")
        if self.idle_s is not None and not (math.isfinite(self.idle_s) and self.idle_s >= 0):
            raise ValueError(
                f"exit_when_idle must be a number of seconds >= 0 (leave it out to wait for work forever), "
                f"got {self.idle_s}"
            )

    @classmethod
    def of(
        cls, once: bool = False, until_idle: bool = False, max_runs: int | None = None, idle_s: float | None = None
    ) -> ExitRules:
        """The rules of the worker's flags; ValueError naming the flags for a combination that contradicts itself.

        >>> ExitRules.of(once=True)
        ExitRules(max_runs=1, idle_s=0.0)
        >>> ExitRules.of(max_runs=20, idle_s=600)
        ExitRules(max_runs=20, idle_s=600)
        >>> ExitRules.of(until_idle=True, idle_s=600)
        Traceback (most recent call last):
        ...
        ValueError: --until-idle is --exit-when-idle 0: give one of them, not both
        """
        if once and (max_runs is not None or idle_s is not None):
            raise ValueError(
                "--once runs one run or job and exits when none is queued; for a worker that waits for its one, give "
                "--max-runs 1 --exit-when-idle SECONDS instead"
            )
        if once and until_idle:
            raise ValueError("--once already exits when nothing is queued: give one of --once and --until-idle")
        if until_idle and idle_s is not None:
            raise ValueError("--until-idle is --exit-when-idle 0: give one of them, not both")
        if once:
            return cls(max_runs=1, idle_s=0.0)
        return cls(max_runs=max_runs, idle_s=0.0 if until_idle else idle_s)

    def enough(self, ran: int) -> bool:
        """Whether the worker has run all it was started for."""
        return self.max_runs is not None and ran >= self.max_runs

    def idle_wait(self, idle_for_s: float, poll_s: float) -> float | None:
        """Seconds to wait before looking at the queue again after `idle_for_s` seconds of nothing; None: exit now.

        >>> ExitRules(idle_s=600).idle_wait(599.5, poll_s=2.0)
        0.5
        >>> ExitRules(idle_s=600).idle_wait(600.0, poll_s=2.0) is None
        True
        >>> ExitRules().idle_wait(1e6, poll_s=2.0)
        2.0
        """
        if self.idle_s is None:
            return poll_s
        left = self.idle_s - idle_for_s
        return None if left <= 0 else min(poll_s, left)

    def describe(self, ran: int, idle_for_s: float) -> str:
        """Why the worker is exiting, for its log."""
        if self.enough(ran):
            return f"ran {ran} run(s) or job(s), all it was started for"
        return f"nothing to claim for {idle_for_s:.0f} s" if self.idle_s else "nothing to claim"


def add_exit_flags(parser: argparse.ArgumentParser) -> None:
    """The four flags above, with checks that name the flag, the value given and what to give instead."""
    parser.add_argument("--once", action="store_true", help="run at most one queued run or job, then exit")
    parser.add_argument("--until-idle", action="store_true", help="exit when no queued run or job is left")
    parser.add_argument(
        "--max-runs",
        type=_whole_number,
        metavar="N",
        help="exit after N runs or jobs (a batch job's share of the queue); combines with --exit-when-idle",
    )
    parser.add_argument(
        "--exit-when-idle",
        type=_seconds,
        metavar="SECONDS",
        help="exit once nothing was claimable for this long (a batch job that frees its machine when the queue "
        "is empty); 0 is --until-idle",
    )


def exit_rules(parser: argparse.ArgumentParser, args: argparse.Namespace) -> ExitRules:
    """The parsed flags as rules; a contradictory combination ends the program with parser.error (exit code 2)."""
    try:
        return ExitRules.of(args.once, args.until_idle, args.max_runs, args.exit_when_idle)
    except ValueError as exc:
        parser.error(str(exc))


def _whole_number(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(
            f"give a whole number >= 1 (runs or jobs before the worker exits), got {text!r}"
        )
    return value


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value >= 0):
        raise argparse.ArgumentTypeError(
            f"give a number of seconds >= 0 (leave the flag out to wait for work forever), got {text!r}"
        )
    return value
