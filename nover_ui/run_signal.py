"""The no-signal banners of the Metrics tab: one per selected run that has rollouts and none format-valid.

Read when the charts are drawn, from the stored rollout flags (Store.format_valid_counts, one grouped read per
run). A run that once had a format-valid rollout keeps it, so such runs are remembered and never read again:
a live run's redraw each step costs nothing here once it has shown signal.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Sequence

from nover_ui.format_guidance import judged_by_tags, no_signal_banner
from nover_ui.safe_text import markdown_text
from storage import RunRecord, Store

MAX_REMEMBERED = 1024


class SignalSeen:
    """Runs known to have a format-valid rollout; shared by the dashboard's sessions, bounded, thread-safe."""

    def __init__(self) -> None:
        self._runs: dict[tuple[int, dt.datetime], None] = {}  # (id, created_at): a reused id is another run
        self._lock = threading.Lock()

    def __contains__(self, run: RunRecord) -> bool:
        with self._lock:
            return (run.id, run.created_at) in self._runs

    def add(self, run: RunRecord) -> None:
        with self._lock:
            self._runs[(run.id, run.created_at)] = None
            while len(self._runs) > MAX_REMEMBERED:
                self._runs.pop(next(iter(self._runs)))


def no_signal_banners(store: Store, runs: Sequence[RunRecord], seen: SignalSeen) -> str:
    """Markdown with a banner for each of `runs` that has rollouts and none format-valid, naming the run as text;
    '' when every run has signal or no rollouts yet."""
    banners = []
    for run in runs:
        if run in seen:
            continue
        counts = store.format_valid_counts(run.id)
        if not judged_by_tags(run.tags) or any(valid for valid, _ in counts.values()):
            seen.add(run)
        elif banner := no_signal_banner(counts):
            banners.append(f"Run #{run.id} {markdown_text(run.name)}: {banner}")
    return "\n\n".join(banners)
