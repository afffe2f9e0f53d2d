"""The experiment grid: recipes x swept values x seeds over the Train form's config, and every refusal naming its
input or field. Pure: no Store, no Gradio."""

import pytest

from nover_ui.experiment_grid import (
    NAME,
    RECIPES_INPUT,
    SEEDS,
    SHARED_FIELDS,
    SWEEP_INPUTS,
    SWEEPABLE,
    build_grid,
    parse_sweep,
)
from storage.models import RUN_NAME_MAX
from training.config import ConfigError, RunConfig, preset
from training.recipe_presets import RECIPES

FORM = preset("cpu-demo", eval_steps=2, max_steps=4).to_dict()


def refusal(*args, **kwargs) -> ConfigError:
    with pytest.raises(ConfigError) as caught:
        build_grid(*args, **kwargs)
    return caught.value


def test_recipes_times_values_times_seeds_each_apply_over_the_form():
    grid = build_grid(FORM, "cmp", ["nover", "rlpr"], [("learning_rate", "1e-5, 3e-5"), ("beta", "0, 0.1")], 2)
    assert len(grid.runs) == 2 * 2 * 2 * 2
    names = [name for name, _ in grid.runs]
    assert names[0] == "cmp · nover · learning_rate=1e-05 · beta=0 · seed 42"
    assert names[-1] == "cmp · rlpr · learning_rate=3e-05 · beta=0.1 · seed 43"
    assert len(set(names)) == len(names)
    for name, config in grid.runs:
        assert RunConfig.from_dict(config).to_dict() == config  # complete and valid
        recipe = name.split(" · ")[1]
        assert {key: config[key] for key in RECIPES[recipe]} == RECIPES[recipe]
        assert {key: config[key] for key in SHARED_FIELDS if key != "seed"} == {
            key: RunConfig.from_dict(FORM).to_dict()[key] for key in SHARED_FIELDS if key != "seed"
        }
    assert [config["seed"] for _, config in grid.runs[:2]] == [42, 43]
    settings = grid.settings
    assert settings["recipes"] == ["nover", "rlpr"] and settings["seeds"] == [42, 43]
    assert settings["sweeps"] == [
        {"field": "learning_rate", "values": [1e-5, 3e-5]},
        {"field": "beta", "values": [0.0, 0.1]},
    ]
    shared = settings["shared"]
    assert shared["eval_steps"] == 2 and shared["dataset"] == FORM["dataset"]
    assert not {"learning_rate", "beta", "seed", "reward"} & set(shared)


def test_without_recipes_or_sweeps_the_form_runs_once_per_seed():
    grid = build_grid(FORM, "seeds only", [], [("", ""), ("", "")], 3)
    assert [name for name, _ in grid.runs] == [f"seeds only · seed {s}" for s in (42, 43, 44)]
    assert grid.runs[0][1]["reward"] == FORM["reward"]
    single = build_grid(FORM, "one", [], [], 1)
    assert [name for name, _ in single.runs] == ["one · seed 42"]


@pytest.mark.parametrize(
    ("field", "text", "values"),
    [
        ("num_generations", "2, 4.0", (2, 4)),
        ("temperature", " 0.5,1 ", (0.5, 1.0)),
        ("format_example", "True, off", (True, False)),
        ("loss_type", "dapo,grpo", ("dapo", "grpo")),
        ("model", "a/b, c/d", ("a/b", "c/d")),
    ],
)
def test_values_are_parsed_to_the_field_s_type(field, text, values):
    assert parse_sweep(field, text).values == values


@pytest.mark.parametrize(
    ("field", "text", "message"),
    [
        ("num_generations", "2, 2.5", "sweep of num_generations: '2.5' is not a whole number"),
        ("temperature", "hot", "sweep of temperature: 'hot' is not a number"),
        ("temperature", "nan", "is not a finite number"),
        ("format_example", "maybe", "'maybe' is not true or false"),
        ("loss_type", "ppo", "'ppo' is not one of grpo, bnpo"),
        ("temperature", "0.5, 0.5", "lists 0.5 twice"),
        ("temperature", " , ", "type its values separated by commas"),
        ("dataset", "a.csv, b.csv", "dataset cannot be swept"),
        ("eval_prompts", "4, 8", "eval_prompts cannot be swept"),
        ("heldout_seed", "1, 2", "heldout_seed cannot be swept"),
        ("seed", "1, 2", "set the number of seeds instead"),
        ("no_such_field", "1", "'no_such_field' is not a config field"),
    ],
)
def test_a_bad_sweep_is_refused_naming_the_field_and_the_value(field, text, message):
    error = refusal(FORM, "x", [], [("", ""), (field, text)], 1)
    assert message in str(error) and error.field == SWEEP_INPUTS[1]


def test_shared_fields_are_never_offered_for_a_sweep():
    assert not set(SHARED_FIELDS) & set(SWEEPABLE)
    assert {"split_column", "dataset_split", "eval_split", "heldout_fraction", "eval_steps", "seed"} <= set(
        SHARED_FIELDS
    )
    assert {"learning_rate", "reward", "verifier_weight", "model"} <= set(SWEEPABLE)


def test_one_bad_run_refuses_the_grid_naming_the_run_and_the_input_that_set_its_field():
    error = refusal(FORM, "x", ["nover"], [("temperature", "0.7, -1")], 1)
    assert error.field == SWEEP_INPUTS[0]
    assert str(error).startswith("run nover · temperature=-1: temperature must be > 0")
    # A recipe's field a sweep did not set: shown under the recipes. The verifier cannot also be a hybrid.
    error = refusal(FORM, "x", ["verifier"], [("verifier_weight", "0, 0.5")], 1)
    assert error.field == SWEEP_INPUTS[0] and "run verifier · verifier_weight=0.5" in str(error)
    # A bad form field: under the form's own field.
    error = refusal({**FORM, "lora_r": 0}, "x", ["nover"], [], 1)
    assert error.field == "lora_r"


def test_an_experiment_needs_held_out_evaluation_a_name_known_recipes_and_seeds():
    error = refusal({**FORM, "eval_steps": 0}, "x", ["nover"], [], 1)
    assert error.field == "eval_steps" and "eval_steps must be > 0" in str(error)
    assert refusal(FORM, "  ", ["nover"], [], 1).field == NAME
    assert refusal(FORM, "x", ["nover", "ppo"], [], 1).field == RECIPES_INPUT
    for seeds in (0, 1.5, None, 101):
        assert refusal(FORM, "x", ["nover"], [], seeds).field == SEEDS
    error = refusal(FORM, "x", [], [("beta", "0, 0.1"), ("beta", "0.2")], 1)
    assert error.field == SWEEP_INPUTS[1] and "both sweeps set beta" in str(error)


def test_the_cap_refuses_a_big_grid_before_checking_its_runs():
    error = refusal({**FORM, "eval_steps": 0}, "x", list(RECIPES), [("beta", "0, 0.1")], 2, max_runs=10)
    assert str(error).startswith("this grid has 24 runs, over this dashboard's cap of 10")
    assert len(build_grid(FORM, "x", list(RECIPES), [("beta", "0, 0.1")], 2, max_runs=24).runs) == 24


def test_long_names_fit_the_run_name_column():
    grid = build_grid(FORM, "e" * 300, ["rlpr"], [("learning_rate", "1e-5, 3e-5")], 2)
    assert all(len(name) <= RUN_NAME_MAX for name, _ in grid.runs)
    assert grid.runs[-1][0].endswith("… · rlpr · learning_rate=3e-05 · seed 43")
