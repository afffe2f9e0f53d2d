"""An experiment's grid: from the Train form's config, recipes x swept values x seeds as (run name, config) pairs.

Pure: plain values in, a Grid or a ConfigError out; no Gradio, no Store (nover_ui/experiment_form.py queues it).
Every run of one experiment shares its data, its held-out prompts and its evaluation settings, so the fields that
decide them cannot be swept, and seeds come from the seed count, not a sweep of `seed`. A refusal is a ConfigError
whose `field` is a RunConfig field (shown under it in the form) or one of the experiment's inputs (INPUTS).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from nover_ui.config_form import FormField, form_fields
from storage.models import RUN_NAME_MAX
from training.config import ConfigError, RunConfig, config_errors
from training.recipe_presets import RECIPES

NAME, RECIPES_INPUT, SEEDS = "experiment_name", "experiment_recipes", "experiment_seeds"
SWEEP_INPUTS = ("sweep_1", "sweep_2")
INPUTS = (NAME, RECIPES_INPUT, *SWEEP_INPUTS, SEEDS)
"""The experiment's own inputs, as ConfigError.field names them."""
SHARED_GROUPS = ("data", "evaluation")
"""Form groups whose fields every run of an experiment shares: the data, its split, the held-out choice and the
evaluation settings (so the runs' held-out metrics are measured on the same prompts in the same way)."""
SHARED_FIELDS = tuple(f.name for f in form_fields() if f.group in SHARED_GROUPS) + ("seed",)
SWEEPABLE = tuple(f.name for f in form_fields() if f.name not in SHARED_FIELDS)
MAX_SEEDS = 100
DEFAULT_MAX_RUNS = 24
"""The most runs one experiment may queue (app.py --max-experiment-runs)."""
SEPARATOR = " · "
_TRUE, _FALSE = ("true", "yes", "on", "1"), ("false", "no", "off", "0")


@dataclass(frozen=True)
class Sweep:
    field: str
    values: tuple[Any, ...]


@dataclass(frozen=True)
class Grid:
    name: str
    runs: tuple[tuple[str, dict[str, Any]], ...]
    """(run name, config) in queueing order: recipes, then the first sweep's values, the second's, then seeds."""
    settings: dict[str, Any]
    """Stored with the experiment: recipes, sweeps, seeds, and the value of every field the runs share."""


def parse_sweep(field_name: str, text: str, input_name: str = SWEEP_INPUTS[0]) -> Sweep:
    """A sweep from its field and the values typed as a comma list, each parsed to the field's type.

    >>> parse_sweep("learning_rate", "1e-5, 3e-5")
    Sweep(field='learning_rate', values=(1e-05, 3e-05))
    >>> parse_sweep("num_generations", "4,8").values, parse_sweep("format_example", "true, no").values
    ((4, 8), (True, False))
    >>> parse_sweep("learning_rate", "1e-5, fast")
    Traceback (most recent call last):
    ...
    training.config.ConfigError: sweep of learning_rate: 'fast' is not a number; type numbers separated by commas
    >>> parse_sweep("seed", "1,2")
    Traceback (most recent call last):
    ...
    training.config.ConfigError: seed cannot be swept: set the number of seeds instead
    """
    spec = _sweepable(field_name, input_name)
    parts = [part.strip() for part in text.split(",")]
    if not any(parts):
        raise ConfigError(
            input_name, f"sweep of {field_name}: type its values separated by commas, e.g. {_example(spec)}"
        )
    values = tuple(_parse_value(spec, part, input_name) for part in parts if part)
    repeated = next((value for i, value in enumerate(values) if value in values[:i]), None)
    if repeated is not None:
        raise ConfigError(input_name, f"sweep of {field_name} lists {_value_text(repeated)} twice; keep it once")
    return Sweep(field_name, values)


def grid_size(recipes: Sequence[str], sweeps: Sequence[Sweep], seeds: int) -> int:
    """Runs in the grid: recipes (or the form's own reward) x each sweep's values x seeds.

    >>> grid_size(["nover", "rlpr"], [Sweep("learning_rate", (1e-5, 3e-5))], 3)
    12
    """
    return max(len(recipes), 1) * math.prod(len(sweep.values) for sweep in sweeps) * seeds


def build_grid(
    config: Mapping[str, Any],
    name: str,
    recipes: Sequence[str],
    sweeps: Sequence[tuple[str, str]],
    seeds: float | None,
    max_runs: int = DEFAULT_MAX_RUNS,
) -> Grid:
    """The experiment `name` over the form's `config`: RECIPES[recipe] applied over it for each recipe (none: the
    form's reward as it is), each (field, comma list) sweep's values over that, and seeds seed, seed+1, ...

    Refused (ConfigError) before any run exists: a bad input, a grid over `max_runs`, an experiment without
    held-out evaluation, or any run whose config is invalid (naming the run and the field).

    >>> grid = build_grid({"eval_steps": 2}, "cmp", ["nover", "rlpr"], [("learning_rate", "1e-5, 3e-5")], 2)
    >>> len(grid.runs), grid.runs[-1][0]
    (8, 'cmp · rlpr · learning_rate=3e-05 · seed 43')
    >>> grid.runs[-1][1]["reward"], grid.runs[-1][1]["learning_rate"], grid.runs[-1][1]["seed"]
    ('rlpr', 3e-05, 43)
    >>> build_grid({"eval_steps": 2}, "big", ["nover", "rlpr"], [("learning_rate", "1e-5, 3e-5")], 10)
    Traceback (most recent call last):
    ...
    training.config.ConfigError: this grid has 40 runs, over this dashboard's cap of 24; fewer recipes, values or seeds
    """
    name = name.strip()
    if not name:
        raise ConfigError(NAME, "name the experiment (its runs' names start with it)")
    unknown = [recipe for recipe in recipes if recipe not in RECIPES]
    if unknown:
        raise ConfigError(RECIPES_INPUT, f"unknown recipe {unknown[0]!r}; pick from {', '.join(RECIPES)}")
    parsed = [parse_sweep(f, text, input_name) for (f, text), input_name in zip(sweeps, SWEEP_INPUTS) if f]
    if len(parsed) > 1 and parsed[0].field == parsed[1].field:
        raise ConfigError(SWEEP_INPUTS[1], f"both sweeps set {parsed[0].field}; put all its values in one sweep")
    seed_count = _seed_count(seeds)
    size = grid_size(recipes, parsed, seed_count)
    if size > max_runs:
        raise ConfigError(
            None, f"this grid has {size} runs, over this dashboard's cap of {max_runs}; fewer recipes, values or seeds"
        )
    base = dict(config)
    _check_base(base)
    first_seed = int(base["seed"]) if isinstance(base.get("seed"), int) else 42
    runs = []
    chosen: list[str | None] = list(recipes) or [None]  # none: the form's own reward
    for recipe, values, offset in itertools.product(
        chosen, itertools.product(*(sweep.values for sweep in parsed)), range(seed_count)
    ):
        run = {**base, **(RECIPES[recipe] if recipe else {})}
        run.update({sweep.field: value for sweep, value in zip(parsed, values)})
        run["seed"] = first_seed + offset
        labels = [recipe] if recipe else []
        labels += [f"{sweep.field}={_value_text(value)}" for sweep, value in zip(parsed, values)]
        if seed_count > 1 or not labels:
            labels.append(f"seed {run['seed']}")
        runs.append((run_title(name, labels), _checked_run(run, labels, recipe, parsed)))
    settings = {
        "recipes": list(recipes),
        "sweeps": [{"field": sweep.field, "values": list(sweep.values)} for sweep in parsed],
        "seeds": [first_seed + offset for offset in range(seed_count)],
        "shared": {key: value for key, value in runs[0][1].items() if all(c.get(key) == value for _, c in runs)},
    }
    return Grid(name, tuple(runs), settings)


def run_title(experiment: str, labels: Sequence[str]) -> str:
    """'<experiment> · <what differs>', the experiment's name shortened to fit RUN_NAME_MAX when it must.

    >>> run_title("x" * 300, ["rlpr", "seed 43"])[-20:], len(run_title("x" * 300, ["rlpr", "seed 43"]))
    ('xx… · rlpr · seed 43', 200)
    """
    tail = SEPARATOR.join(["", *labels])
    room = RUN_NAME_MAX - len(tail)
    head = experiment if len(experiment) <= room else experiment[: max(room - 1, 0)] + "…"
    return (head + tail)[:RUN_NAME_MAX]


def _check_base(config: dict[str, Any]) -> None:
    """The form's own config must be valid, and must evaluate held-out prompts: the experiment compares them."""
    errors = config_errors(config)
    if errors:
        raise next(iter(errors.values()))
    if not config.get("eval_steps"):
        raise ConfigError(
            "eval_steps",
            "an experiment compares held-out metrics, so eval_steps must be > 0 (Held-out evaluation); set it, e.g. "
            "to a quarter of max_steps",
        )


def _checked_run(
    run: dict[str, Any], labels: Sequence[str], recipe: str | None, sweeps: Sequence[Sweep]
) -> dict[str, Any]:
    """The run's config with every field filled in, or the first error of the run, shown under the input that set
    the field (a sweep, the recipes) or else under the form's field."""
    errors = config_errors(run)
    if not errors:
        return RunConfig.from_dict(run).to_dict()
    field_name, error = next(iter(errors.items()))
    where = {sweep.field: input_name for sweep, input_name in zip(sweeps, SWEEP_INPUTS)}
    if recipe and field_name in RECIPES[recipe]:
        where.setdefault(field_name, RECIPES_INPUT)
    shown = where.get(field_name or "", field_name)
    raise ConfigError(shown, f"run {SEPARATOR.join(labels)}: {error}")


def _sweepable(field_name: str, input_name: str) -> FormField:
    if field_name == "seed":
        raise ConfigError(input_name, "seed cannot be swept: set the number of seeds instead")
    if field_name in SHARED_FIELDS:
        raise ConfigError(
            input_name,
            f"{field_name} cannot be swept: every run of an experiment shares its data, held-out prompts and "
            "evaluation settings; set it in the form",
        )
    spec = next((f for f in form_fields() if f.name == field_name), None)
    if spec is None:
        raise ConfigError(input_name, f"{field_name!r} is not a config field; pick one from the list")
    return spec


def _parse_value(spec: FormField, text: str, input_name: str) -> Any:
    what = f"sweep of {spec.name}: {text!r}"
    if spec.choices is not None:
        if text not in spec.choices:
            raise ConfigError(input_name, f"{what} is not one of {', '.join(spec.choices)}")
        return text
    if spec.kind is bool:
        if text.lower() not in _TRUE + _FALSE:
            raise ConfigError(input_name, f"{what} is not true or false")
        return text.lower() in _TRUE
    if spec.kind in (int, float):
        try:
            number = float(text)
        except ValueError:
            raise ConfigError(input_name, f"{what} is not a number; type numbers separated by commas") from None
        if not math.isfinite(number):
            raise ConfigError(input_name, f"{what} is not a finite number")
        if spec.kind is float:
            return number
        if not number.is_integer():
            raise ConfigError(input_name, f"{what} is not a whole number")
        return int(number)
    return text


def _seed_count(seeds: float | None) -> int:
    if seeds is None or not float(seeds).is_integer() or not 1 <= seeds <= MAX_SEEDS:
        raise ConfigError(SEEDS, f"seeds must be a whole number from 1 to {MAX_SEEDS}, got {seeds}")
    return int(seeds)


def _value_text(value: Any) -> str:
    """A swept value as a run's name shows it: 3e-05, 8, true, dapo."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return f"{value:g}" if isinstance(value, float) else str(value)


def _example(spec: FormField) -> str:
    if spec.choices:
        return ", ".join(spec.choices[:2])
    return {bool: "true, false", int: "4, 8", float: "1e-5, 3e-5"}.get(spec.kind, "a, b")
