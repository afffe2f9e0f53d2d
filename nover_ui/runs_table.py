"""The Runs table: one row of plain text per run, with its phase, progress, reward, step time and ETA (read_runs
fills it), and the filter a person types over it."""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import statistics
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import PurePath

import pandas as pd

from nover_ui.alert_view import badge_text
from nover_ui.dataset_label import dataset_label
from nover_ui.number_text import number_text
from nover_ui.shared_reads import READS
from storage import AlertRecord, MetricSeries, RunRecord, Status, Store
from training.config import HEARTBEAT_TIMEOUT_S
from training.needs import Capabilities, waiting_reason

RUN_COLUMNS = [
    "id",
    "name",
    "status",
    "alerts",
    "progress",
    "reward",
    "step time",
    "ETA",
    "dataset",
    "model",
    "experiment",
    "tags",
    "error",
    "created",
    "started",
    "finished",
    "worker",
]
# Pixels: what a run is and how it goes fit a laptop's width; the times and the worker scroll into view.
COLUMN_WIDTHS: list[str | int] = [
    "45px",
    "150px",
    "130px",
    "110px",
    "95px",
    "75px",
    "70px",
    "75px",
    "120px",
    "150px",
    "140px",
    "120px",
    "220px",
    "100px",
    "100px",
    "100px",
    "110px",
]
ETA_COLUMN = RUN_COLUMNS.index("ETA")
FILTERED_COLUMNS = ("name", "status", "dataset", "model", "experiment", "tags")
"""What the filter box matches (the status cell includes the phase)."""
STEP_TIME_WINDOW = 10
"""Step time is the mean of the last this many steps: one slow step (a checkpoint save) barely moves it."""


@dataclass(frozen=True)
class RunsView:
    frame: pd.DataFrame
    eta_s: dict[int, float]
    """Seconds left, as of reading, of each running run with an estimate: the browser counts them down."""


@dataclass(frozen=True)
class RunsData:
    """What the table is made of, as read from the database: the same for every viewer until the runs change."""

    runs: list[RunRecord]
    step_times: dict[int, MetricSeries]
    """The last STEP_TIME_WINDOW step times of each run that has reported a step."""
    rewards: dict[int, float]
    """The latest reward of each run that has one."""
    waiting: dict[int, str] = dataclasses.field(default_factory=dict)
    """Why a queued run waits, for each one that live workers exist for and none of them can train
    (training/needs.py waiting_reason)."""
    experiments: dict[int, str] = dataclasses.field(default_factory=dict)
    """The name of each experiment, by id (read only while some run belongs to one)."""
    alerts: dict[int, list[AlertRecord]] = dataclasses.field(default_factory=dict)
    """The alerts of each run that has any, oldest first (the badge, and the selected run's evidence)."""


def read_runs_data(store: Store) -> RunsData:
    """Every run, newest first, with its recent step times, latest reward and alerts (four reads), and why a queued
    run waits (a fifth, of the live workers, only while a run is queued).

    Read when the runs change (the table's shared read): a worker that comes or goes changes no run, so a queued
    run's reason is as of the last change of the runs; the queue's own check and the workers' claims are exact."""
    runs = store.list_runs()
    started = [run.id for run in runs if run.step]
    step_times = store.latest_metrics(started, "step_time", last=STEP_TIME_WINDOW)
    rewards = {run_id: series.values[-1] for run_id, series in store.latest_metrics(started, "reward").items()}
    queued = [run for run in runs if run.status == Status.QUEUED]
    waiting = {}
    if queued:
        live = [Capabilities.from_dict(worker.capabilities) for worker in store.live_workers(HEARTBEAT_TIMEOUT_S)]
        waiting = {run.id: reason for run in queued if (reason := waiting_reason(run.config, live)) is not None}
    # Experiments are made with their runs, so the runs' version covers them too.
    experiments = {e.id: e.name for e in store.list_experiments()} if any(r.experiment_id for r in runs) else {}
    alerts = store.list_alerts([run.id for run in runs])
    return RunsData(runs, step_times, rewards, waiting, experiments, alerts)


def runs_view(data: RunsData, text: str = "", now: float | None = None) -> RunsView:
    """The rows matching the filter `text`; `now` (Unix seconds) is when the ETAs start from."""
    now = time.time() if now is None else now
    eta_s = {
        run.id: seconds
        for run in data.runs
        if (seconds := eta_seconds(run, data.step_times.get(run.id), now)) is not None
    }
    frame = runs_frame(data.runs, data.step_times, data.rewards, eta_s, data.waiting, data.experiments, data.alerts)
    return RunsView(filter_runs(frame, text), eta_s)


def shared_runs_data(store: Store) -> RunsData:
    """read_runs_data once per change of the runs for every page showing them (shared_reads.py)."""
    return READS.get(("runs table", store.url), store.runs_version(), functools.partial(read_runs_data, store))


def read_runs(store: Store, text: str = "", now: float | None = None) -> RunsView:
    """Every run matching the filter `text`, newest first; `now` (Unix seconds) is when the ETAs start from."""
    return runs_view(read_runs_data(store), text, now)


def runs_frame(
    runs: list[RunRecord],
    step_times: Mapping[int, MetricSeries] | None = None,
    rewards: Mapping[int, float] | None = None,
    eta_s: Mapping[int, float] | None = None,
    waiting: Mapping[int, str] | None = None,
    experiments: Mapping[int, str] | None = None,
    alerts: Mapping[int, list[AlertRecord]] | None = None,
) -> pd.DataFrame:
    """One row per run, in the given order, every cell plain text; a run missing from a mapping shows nothing
    there."""
    step_times, rewards, eta_s, waiting = step_times or {}, rewards or {}, eta_s or {}, waiting or {}
    experiments = experiments or {}
    alerts = alerts or {}
    rows = [
        [
            run.id,
            run.name,
            status_text(run, waiting.get(run.id)),
            badge_text(alerts.get(run.id, [])),
            _progress(run),
            number_text(rewards[run.id]) if run.id in rewards else "",
            _duration(statistics.fmean(step_times[run.id].values)) if run.id in step_times else "",
            countdown_text(eta_s[run.id]) if run.id in eta_s else "",
            dataset_label(run.config),
            model_label(run.config.get("model")),
            experiment_label(run.experiment_id, experiments),
            ", ".join(run.tags),
            _first_line(run.error),
            _when(run.created_at),
            _when(run.started_at),
            _when(run.finished_at),
            run.worker_id or "",
        ]
        for run in runs
    ]
    return pd.DataFrame(rows, columns=RUN_COLUMNS)


def filter_runs(frame: pd.DataFrame, text: str) -> pd.DataFrame:
    """The rows whose name, status, dataset, model, experiment or tags contain `text`, ignoring case; every row for
    blank text.

    >>> frame = pd.DataFrame({"name": ["econ", "demo"], "status": ["running", "failed"], "dataset": ["econ.csv",
    ...     "builtin:demo"], "model": ["Qwen/Qwen3-0.6B", "SmolLM2-135M-Instruct"]})
    >>> list(filter_runs(frame, " QWEN ")["name"]), list(filter_runs(frame, "fail")["name"])
    (['econ'], ['demo'])
    >>> len(filter_runs(frame, "")), len(filter_runs(frame, "nothing like it"))
    (2, 0)
    """
    needle = text.strip().casefold()
    if not needle:
        return frame
    matches = frame[[column for column in FILTERED_COLUMNS if column in frame]].apply(
        lambda column: column.str.casefold().str.contains(needle, regex=False)
    )
    return frame[matches.any(axis=1)].reset_index(drop=True)


def status_text(run: RunRecord, waiting: str | None = None) -> str:
    """The status, with what a running run does while no step lands (its phase), or why a queued run waits."""
    if run.phase and run.status == Status.RUNNING:
        return f"{run.status} · {run.phase}"
    return f"{run.status} · {waiting}" if waiting and run.status == Status.QUEUED else run.status


def eta_seconds(run: RunRecord, step_times: MetricSeries | None, now: float) -> float | None:
    """Seconds until a running run's last step: its recent mean step time for each step left, less the time the
    current step has already run (since the latest step landed, as of `now`); None without an estimate.

    >>> from datetime import datetime, timezone
    >>> run = RunRecord(1, "r", "running", {}, datetime.now(timezone.utc), None, None, None, None, False, None, 4,
    ...     10, None)
    >>> eta_seconds(run, MetricSeries("step_time", (3, 4), (10.0, 20.0), (100.0, 115.0)), now=120.0)
    85.0
    """
    if run.status != Status.RUNNING or not run.total_steps or step_times is None:
        return None
    left = statistics.fmean(step_times.values) * max(run.total_steps - run.step, 0)
    return max(left - max(now - step_times.wall_times[-1], 0.0), 0.0)


def countdown_text(seconds: float) -> str:
    """An ETA in whole seconds, as the browser's countdown writes it too (runs_clock.py keeps the same format).

    >>> countdown_text(42.4), countdown_text(61), countdown_text(3 * 3600 + 125)
    ('42 s', '1m 01s', '3h 02m')
    """
    total = max(round(seconds), 0)
    minutes, secs = divmod(total, 60)
    if minutes >= 60:
        return f"{minutes // 60}h {minutes % 60:02d}m"
    return f"{minutes}m {secs:02d}s" if minutes else f"{secs} s"


def model_label(model: object) -> str:
    """A hub id as written; a local folder by its name (its path says where it lies, not what it is).

    >>> model_label("Qwen/Qwen3-0.6B"), model_label("/data/models/my-sft/"), model_label(None)
    ('Qwen/Qwen3-0.6B', 'my-sft', '')
    """
    text = str(model or "")
    return PurePath(text).name if text.startswith(("/", "~", ".")) else text


def experiment_label(experiment_id: int | None, names: Mapping[int, str]) -> str:
    """'#3 lr sweep' for a run of experiment 3, empty for a run of none.

    >>> experiment_label(3, {3: "lr sweep"}), experiment_label(None, {})
    ('#3 lr sweep', '')
    """
    if experiment_id is None:
        return ""
    return f"#{experiment_id} {names.get(experiment_id, '')}".rstrip()


def _progress(run: RunRecord) -> str:
    if run.total_steps:
        return f"{run.step}/{run.total_steps} ({100 * run.step // run.total_steps}%)"
    return str(run.step) if run.step else ""


def _duration(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(round(seconds), 60)
    return f"{minutes // 60}h {minutes % 60:02d}m" if minutes >= 60 else f"{minutes}m {secs:02d}s"


def _when(moment: dt.datetime | None) -> str:
    return moment.astimezone().strftime("%Y-%m-%d %H:%M:%S") if moment else ""


def _first_line(error: str | None) -> str:
    return error.splitlines()[0] if error else ""
