"""The Runs table's filters by experiment, tag and status, next to its filter box; all of them combine.

They narrow the rows of the table's shared read (runs_table.RunsData, read once per change of the runs for every
page), so filtering reads nothing more. Their choices come from the same read: each redraw offers the experiments
and tags the runs have now, and keeps a filter's value chosen meanwhile even when no run has it any more.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import gradio as gr

from nover_ui.runs_table import RunsData
from storage import RunRecord, Status

ALL = ""
"""A filter's value that keeps every run."""
EVERY_EXPERIMENT, EVERY_TAG, EVERY_STATUS = "(every experiment)", "(every tag)", "(every status)"


@dataclass(frozen=True)
class RunFilters:
    experiment_dd: gr.Dropdown
    """Values are experiment ids as text; labels '#id name'."""
    tag_dd: gr.Dropdown
    status_dd: gr.Dropdown

    @property
    def inputs(self) -> list[gr.Dropdown]:
        return [self.experiment_dd, self.tag_dd, self.status_dd]


def keep_runs(
    runs: Sequence[RunRecord], experiment: str | None = ALL, tag: str | None = ALL, status: str | None = ALL
) -> list[RunRecord]:
    """The runs of the experiment (its id as text), with the tag and the status chosen; ALL or None keeps any."""
    return [
        run
        for run in runs
        if (not experiment or str(run.experiment_id) == experiment)
        and (not tag or tag in run.tags)
        and (not status or run.status == status)
    ]


def narrowed(data: RunsData, experiment: str | None, tag: str | None, status: str | None) -> RunsData:
    """The shared read with only the runs the filters keep (the other mappings are looked up by run id)."""
    if not (experiment or tag or status):
        return data
    return dataclasses.replace(data, runs=keep_runs(data.runs, experiment, tag, status))


def choices(
    data: RunsData, experiment: str | None, tag: str | None
) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """The experiment choices (label, id as text), newest first, and the tags in use, sorted; each with ALL first,
    and with the chosen value kept; as (label, value) pairs.

    >>> from datetime import datetime, timezone
    >>> run = RunRecord(1, "r", "queued", {}, datetime.now(timezone.utc), None, None, None, None, False, None, 0,
    ...     None, None, experiment_id=2, tags=("lr", "base"))
    >>> experiments, tags = choices(RunsData([run], {}, {}, experiments={2: "cmp"}), "", "gone")
    >>> experiments, [value for _, value in tags]
    ([('(every experiment)', ''), ('#2 cmp', '2')], ['', 'base', 'gone', 'lr'])
    """
    experiments = [(f"#{i} {name}", str(i)) for i, name in sorted(data.experiments.items(), reverse=True)]
    if experiment and experiment not in [value for _, value in experiments]:
        experiments.append((f"#{experiment}", experiment))
    tags = sorted({t for run in data.runs for t in run.tags} | ({tag} if tag else set()))
    return [(EVERY_EXPERIMENT, ALL), *experiments], [(EVERY_TAG, ALL), *((t, t) for t in tags)]


def choice_updates(filters: RunFilters, data: RunsData, experiment: str | None, tag: str | None) -> dict[Any, Any]:
    experiments, tags = choices(data, experiment, tag)
    return {filters.experiment_dd: gr.update(choices=experiments), filters.tag_dd: gr.update(choices=tags)}


def build_run_filters() -> RunFilters:
    """The three dropdowns; the caller places them (in the row of the filter box)."""
    common: dict[str, Any] = dict(value=ALL, show_label=False, container=False, min_width=140, scale=1)
    return RunFilters(
        experiment_dd=gr.Dropdown([(EVERY_EXPERIMENT, ALL)], elem_id="runs-experiment", **common),
        tag_dd=gr.Dropdown([(EVERY_TAG, ALL)], elem_id="runs-tag", **common),
        status_dd=gr.Dropdown(
            [(EVERY_STATUS, ALL), *((str(s), str(s)) for s in Status)], elem_id="runs-status", **common
        ),
    )
