"""A plain TRL GRPO run as a nover_ui run: the rows `Store.import_run` takes, and notes saying what was assumed.

Pure: a checked TrlFolder (trl_folder.py) in, plain values out. What TRL logs maps as follows.

- Rollouts: each completions row is one, at TRL's `step` (the optimizer step whose generation it was, as nover_ui
  stores its own). A prompt given as messages becomes the text of its last user turn, the conversation kept in
  extras["prompt_messages"]; a completion given as messages becomes their text, the messages kept in
  extras["completion_messages"]. Each reward column becomes a component of extras["rewards"] under its own name
  (what Traces shows for runs of any recipe), and the reward is their weighted sum, skipping missing values, as
  TRL's logged `reward` metric is (GRPOTrainer: nansum over reward functions of weight x value, whatever
  multi_objective_aggregation the advantages were computed with). TRL logs no reference,
  token counts or truncation per completion: the reference is empty, completion_tokens 0, truncated false. A
  completion that follows `<think>…</think><answer>…</answer>` has its reasoning and answer split out, as NOVER's
  format rule splits them (training/rewards.py).
- Groups: TRL orders a generation batch as each prompt's num_generations completions in a row. The rows of a step
  are cut into runs of the same prompt, and each run into groups of the group size: num_generations from
  training_args.json, else the greatest common divisor of the runs' lengths.
- Metrics: every numeric value of every log_history entry, under TRL's own name, at its `step`. Wall times are
  rebuilt from TRL's `step_time` backwards from when trainer_state.json was written.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from nover_ui.format_guidance import TRL_IMPORT_TAG
from nover_ui.trl_config import run_config
from nover_ui.trl_folder import TrlFolder, is_number, is_step
from storage import METRIC_KEY_MAX, RUN_NAME_MAX, Status
from storage.experiments import NOTES_MAX
from training.rewards import format_valid

CONTROL = re.compile(r"[\x00-\x1f\x7f]+")


@dataclass(frozen=True)
class TrlRun:
    run: dict[str, Any]
    """Store.import_run's `run`."""
    metrics: list[dict[str, Any]]
    rollouts: list[dict[str, Any]]
    notes: list[str]
    """For people: what was found, mapped, assumed and left out."""


def trl_run(folder: TrlFolder, now: dt.datetime) -> TrlRun:
    notes: list[str] = []
    weights = _weights(folder, notes)
    rollouts = _rollouts(folder, weights, notes)
    metrics = _metrics(folder, rollouts, notes, now)
    config, unmapped = run_config(folder, rollouts, notes)
    state = folder.state or {}
    step = state.get("global_step") if isinstance(state.get("global_step"), int) else None
    step = step if step is not None else max((row["step"] for row in [*rollouts, *metrics]), default=0)
    run = {
        "name": _run_name(folder.name),
        "status": Status.SUCCEEDED,
        "config": config,
        "created_at": now,
        "finished_at": now,
        "step": step,
        "total_steps": state["max_steps"] if is_step(state.get("max_steps")) else step,
        "tags": [TRL_IMPORT_TAG],
        "notes": _run_notes(folder, notes, unmapped),
    }
    return TrlRun(run, metrics, rollouts, notes)


def _weights(folder: TrlFolder, notes: list[str]) -> list[float]:
    names = folder.reward_names
    given = (folder.args or {}).get("reward_weights")
    if isinstance(given, list) and len(given) == len(names) and all(is_number(w) for w in given):
        weights, source = [float(w) for w in given], "reward_weights in training_args.json"
    else:
        weights = [1.0] * len(names)
        source = "TRL's default weight 1 each: " + (
            "no training_args.json gives reward_weights"
            if given is None
            else f"reward_weights in training_args.json is not {len(names)} numbers"
        )
    if names:
        notes.append("reward columns mapped: " + ", ".join(f"{name} -> component {name}" for name in names))
        terms = " + ".join(f"{weight:g} × {name}" for weight, name in zip(weights, names, strict=True))
        notes.append(f"reward = {terms}, missing values skipped ({source}); advantages are TRL's own")
    return weights


def _rollouts(folder: TrlFolder, weights: list[float], notes: list[str]) -> list[dict[str, Any]]:
    if not folder.completion_files:
        notes.append("no completions/completions_*.parquet: no rollouts (TRL writes them with log_completions=True)")
        return []
    size = _group_size(folder)
    rollouts, unscored, valid, conversational = [], 0, 0, False
    for step, rows in _by_step(folder.rows).items():
        for group_index, group in enumerate(_groups(rows, size)):
            for sample_index, row in enumerate(group):
                rollout = _rollout(folder, row, weights)
                rollouts.append({"step": step, "group_index": group_index, "sample_index": sample_index, **rollout})
                unscored += all(row[name] is None for name in folder.reward_names)
                valid += rollout["format_valid"]
                conversational = conversational or "prompt_messages" in rollout["extras"]
    steps = sorted({row["step"] for row in rollouts})
    notes.append(f"{len(rollouts):,} rollouts at steps {_steps_text(steps)}, in groups of {size}")
    if conversational:
        notes.append("prompts are conversations: each prompt is its last user turn, the whole in the rollout's extras")
    notes.append(
        "TRL logs no reference, token counts or truncation per completion: references are empty, "
        "completion_tokens 0, truncated false"
    )
    notes.append(f"{valid:,} of {len(rollouts):,} completions follow <think>…</think><answer>…</answer>")
    if unscored:
        notes.append(f"{unscored:,} rollout(s) have no value from any reward function: their reward is stored as 0")
    if folder.extra_columns:
        notes.append(f"other columns kept in each rollout's extras: {', '.join(folder.extra_columns)}")
    return rollouts


def _rollout(folder: TrlFolder, row: dict[str, Any], weights: list[float]) -> dict[str, Any]:
    prompt, prompt_messages = _text_of(row["prompt"], last_user=True)
    completion, completion_messages = _text_of(row["completion"], last_user=False)
    components = {name: row[name] for name in folder.reward_names}
    present = [w * v for w, v in zip(weights, components.values(), strict=True) if v is not None]
    valid, reasoning, answer = format_valid(completion)
    extras: dict[str, Any] = {"rewards": components}
    if prompt_messages is not None:
        extras["prompt_messages"] = prompt_messages
    if completion_messages is not None:
        extras["completion_messages"] = completion_messages
    if folder.extra_columns:
        extras["logged"] = {name: _plain(row.get(name)) for name in folder.extra_columns}
    return {
        "prompt": prompt,
        "reference": "",
        "completion": completion,
        "reasoning": reasoning if valid else None,
        "answer": answer if valid else None,
        "reward": math.fsum(present),
        "completion_tokens": 0,
        "advantage": row.get("advantage"),
        "format_valid": valid,
        "extras": extras,
    }


def _text_of(value: Any, last_user: bool) -> tuple[str, list[Any] | None]:
    """Text as it is; a message list as the text of its last user turn (`last_user`) or of all its messages, with
    the messages themselves."""
    if isinstance(value, str):
        return value, None
    if not isinstance(value, list):
        return "" if value is None else str(value), None
    messages = [_plain(message) for message in value]
    turns = [m for m in messages if isinstance(m, dict)]
    if last_user:
        users = [m for m in turns if m.get("role") == "user"] or turns
        return (_content(users[-1]) if users else ""), messages
    return "\n".join(_content(m) for m in turns), messages


def _content(message: dict[str, Any]) -> str:
    content = message.get("content")
    if isinstance(content, list):  # multimodal parts: the text ones
        return "".join(str(part.get("text") or "") for part in content if isinstance(part, dict))
    return "" if content is None else str(content)


def _plain(value: Any) -> Any:
    """A cell as JSON can hold it: Arrow structs come as dicts with every field, absent ones None (dropped here)."""
    if isinstance(value, dict):
        return {str(key): _plain(item) for key, item in value.items() if item is not None}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)


def _by_step(rows: list[dict[str, Any]]) -> dict[int, list[dict[str, Any]]]:
    steps: dict[int, list[dict[str, Any]]] = {}
    for row in rows:
        steps.setdefault(int(row["step"]), []).append(row)
    return dict(sorted(steps.items()))


def _runs_of_prompt(rows: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    runs: list[list[dict[str, Any]]] = []
    for row in rows:
        if runs and runs[-1][0]["prompt"] == row["prompt"]:
            runs[-1].append(row)
        else:
            runs.append([row])
    return runs


def _group_size(folder: TrlFolder) -> int:
    given = (folder.args or {}).get("num_generations")
    if isinstance(given, int) and not isinstance(given, bool) and given >= 1:
        return given
    lengths = [len(run) for rows in _by_step(folder.rows).values() for run in _runs_of_prompt(rows)]
    return math.gcd(*lengths) if lengths else 1


def _groups(rows: list[dict[str, Any]], size: int) -> Iterable[list[dict[str, Any]]]:
    for run in _runs_of_prompt(rows):
        yield from (run[start : start + size] for start in range(0, len(run), size))


def _metrics(
    folder: TrlFolder, rollouts: list[dict[str, Any]], notes: list[str], now: dt.datetime
) -> list[dict[str, Any]]:
    if folder.state is None:
        notes.append("no trainer_state.json: no metrics (TRL writes it into each checkpoint-N folder)")
        return []
    entries = [e for e in folder.state.get("log_history", []) if isinstance(e, dict) and is_step(e.get("step"))]
    ended = folder.state_mtime if folder.state_mtime is not None else now.timestamp()
    step_times = {e["step"]: e["step_time"] for e in entries if is_number(e.get("step_time"))}
    started = ended - math.fsum(step_times.values())
    by_key: dict[tuple[str, int], dict[str, Any]] = {}
    skipped: set[str] = set()
    for entry in entries:
        step = entry["step"]
        wall_time = started + math.fsum(t for s, t in step_times.items() if s <= step)
        for key, value in entry.items():
            if key == "step" or not is_number(value) or not math.isfinite(value):
                continue
            if len(key) > METRIC_KEY_MAX:
                skipped.add(key[:40] + "…")
                continue
            # A later entry of the same step (the end-of-training summary) wins, as in TRL's own log.
            by_key[(key, step)] = {"step": step, "key": key, "value": float(value), "wall_time": wall_time}
    metrics = list(by_key.values())
    logged = sorted({m["step"] for m in metrics})
    notes.append(f"{len(metrics):,} metric values at steps {_steps_text(logged)}, from {folder.state_file}")
    if rollouts:
        missing = sorted(set(logged) - {row["step"] for row in rollouts})
        if missing:
            notes.append(f"no completions were logged at steps {_steps_text(missing)}")
    if skipped:
        notes.append(f"metric names over {METRIC_KEY_MAX} characters left out: {', '.join(sorted(skipped))}")
    if not step_times:
        notes.append("log_history has no step_time: every metric's wall time is when trainer_state.json was written")
    return metrics


def _run_name(folder_name: str) -> str:
    name = CONTROL.sub(" ", folder_name).strip()[:RUN_NAME_MAX]
    return name or "TRL run"


def _run_notes(folder: TrlFolder, notes: list[str], unmapped: dict[str, Any]) -> str:
    text = "Imported from the TRL output folder " + _run_name(folder.name) + ".\n" + "\n".join(notes)
    if unmapped:
        text += "\nTRL arguments with no nover_ui field:\n" + "\n".join(f"{k} = {v!r}" for k, v in unmapped.items())
    return text if len(text) <= NOTES_MAX else text[: NOTES_MAX - 1] + "…"


def _steps_text(steps: list[int]) -> str:
    shown = ", ".join(map(str, steps[:20]))
    return (shown + f" and {len(steps) - 20:,} more") if len(steps) > 20 else (shown or "none")
