import dataclasses
import json
import typing

import pytest

from training.config import PRESETS, ConfigError, RunConfig, config_errors, field_names, preset


def test_defaults_follow_the_paper_constants():
    c = RunConfig()
    assert (c.num_generations, c.temperature, c.learning_rate, c.beta) == (8, 0.6, 1e-5, 0.1)
    assert (c.epsilon, c.epsilon_high, c.lora_r, c.lora_alpha, c.lora_dropout) == (0.1, 0.2, 16, 32, 0.1)
    assert (c.proxy_sync_steps, c.proxy_alpha) == (100, 0.9)
    assert (c.format_weight, c.reasoning_weight, c.efficiency_weight) == (1.0, 1.0, 1.0)
    assert (c.intermediate_tag, c.final_tag) == ("think", "answer")


def test_every_field_has_help_and_a_form_group():
    for f in dataclasses.fields(RunConfig):
        assert len(f.metadata.get("help", "")) > 10, f.name
        assert f.metadata.get("group") in {
            "model",
            "data",
            "prompt",
            "rewards",
            "grpo",
            "generation",
            "lora",
            "proxy",
            "run",
            "evaluation",
            "alerts",
        }, f.name


def test_choice_fields_default_to_one_of_their_choices():
    c = RunConfig()
    for f in dataclasses.fields(RunConfig):
        if "choices" in f.metadata:
            assert getattr(c, f.name) in f.metadata["choices"], f.name


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_presets_are_valid_and_round_trip_through_json(name):
    config = preset(name)
    assert RunConfig.from_json(config.to_json()) == config
    assert json.loads(config.to_json()) == config.to_dict()


def test_cpu_demo_uses_the_format_helpers_the_small_model_needs():
    demo = preset("cpu-demo")
    assert demo.format_example and demo.prefill_intermediate and demo.dataset == "builtin:demo"
    # A small prompt set, each prompt sampled at several steps: Compare can follow one after a few steps.
    assert demo.max_prompts is not None and demo.max_steps >= 3 * demo.max_prompts // demo.prompts_per_step


def test_preset_overrides_and_unknown_preset():
    assert preset("cpu-demo", max_steps=2).max_steps == 2
    with pytest.raises(ConfigError, match="unknown preset 'gpu'; available presets: cpu-demo, paper"):
        preset("gpu")


def test_from_dict_accepts_plain_data_spellings_of_numbers():
    c = RunConfig.from_dict({"num_generations": 4.0, "beta": 0, "learning_rate": 1e-4})
    assert (c.num_generations, c.beta) == (4, 0.0)
    assert type(c.num_generations) is int and type(c.beta) is float


@pytest.mark.parametrize(
    ("values", "field", "message"),
    [
        ({"learning_rat": 1e-5}, "learning_rat", "unknown config key(s) 'learning_rat'; did you mean 'learning_rate'?"),
        ({"num_generations": "8"}, "num_generations", "num_generations must be a whole number, got '8' (str)"),
        ({"num_generations": 2.5}, "num_generations", "num_generations must be a whole number, got 2.5"),
        ({"num_generations": True}, "num_generations", "num_generations must be a whole number, got True"),
        ({"format_example": 1}, "format_example", "format_example must be true or false, got 1"),
        ({"temperature": float("inf")}, "temperature", "temperature must be a finite number"),
        ({"max_prompts": 0}, "max_prompts", "max_prompts must be >= 1 (leave it empty to use every prompt), got 0"),
        ({"num_generations": 1}, "num_generations", "num_generations must be >= 2 to compute group advantages"),
        ({"max_steps": 0}, "max_steps", "max_steps must be >= 1, got 0"),
        ({"learning_rate": 0.0}, "learning_rate", "learning_rate must be > 0, got 0.0"),
        ({"learning_rate": 3.0}, "learning_rate", "learning_rate must be below 1"),
        ({"top_p": 0.0}, "top_p", "top_p must be in (0.0, 1.0], got 0.0"),
        ({"proxy_alpha": 1.5}, "proxy_alpha", "proxy_alpha must be in [0.0, 1.0], got 1.5"),
        ({"beta": -0.1}, "beta", "beta must be >= 0, got -0.1"),
        (
            {"loss_type": "ppo"},
            "loss_type",
            "loss_type must be one of grpo, bnpo, dr_grpo, dapo, cispo, sapo, luspo, vespo, got 'ppo'",
        ),
        ({"quantization": "8bit"}, "quantization", "quantization must be one of none, 4bit"),
        ({"final_tag": "think"}, "final_tag", "final_tag must differ from intermediate_tag"),
        ({"intermediate_tag": "<think>"}, "intermediate_tag", "write 'think', not '<think>'"),
        ({"reference_column": "prompt"}, "reference_column", "reference_column must differ from prompt_column"),
        ({"model": " "}, "model", "model must not be empty"),
        ({"format_weight": 0, "reasoning_weight": 0, "efficiency_weight": 0}, "format_weight", "all 0"),
    ],
)
def test_bad_values_are_refused_naming_field_value_and_fix(values, field, message):
    with pytest.raises(ConfigError) as caught:
        RunConfig.from_dict(values)
    assert caught.value.field == field
    assert message in str(caught.value)


def test_from_json_refuses_non_json_and_non_objects():
    with pytest.raises(ConfigError, match="not valid JSON"):
        RunConfig.from_json("{max_steps: 3")
    with pytest.raises(ConfigError, match="must be a JSON object"):
        RunConfig.from_json("[1, 2]")


def test_replace_validates_the_result():
    c = RunConfig()
    assert c.replace(max_steps=7).max_steps == 7
    with pytest.raises(ConfigError, match="max_steps"):
        c.replace(max_steps=-1)


def test_field_names_lists_every_field_once():
    names = field_names()
    assert len(names) == len(set(names)) == len(dataclasses.fields(RunConfig))


def test_every_number_and_string_field_has_an_upper_bound_naming_field_value_and_limit():
    for field in dataclasses.fields(RunConfig):
        hint = typing.get_type_hints(RunConfig)[field.name]
        kind = typing.get_args(hint) or (hint,)
        if field.metadata.get("choices") or bool in kind:
            continue
        most = field.metadata["most"]  # KeyError: a field anyone could set to any size
        default = getattr(RunConfig(), field.name)
        over = "x" * (int(most) + 1) if isinstance(default, str) else (int(most) + 1 if int in kind else most * 2)
        with pytest.raises(ConfigError) as caught:
            RunConfig.from_dict({field.name: over})
        # The limit in the message, or a range check's own advice that came first (learning_rate, top_p, ...).
        assert caught.value.field == field.name and "got" in str(caught.value), str(caught.value)
    assert RunConfig(max_steps=1_000_000).max_steps == 1_000_000  # a million steps is a real request


def test_config_errors_lists_every_field_at_once_and_run_config_still_raises_the_first():
    values = {**RunConfig().to_dict(), "num_generations": 1, "temperature": -1.0, "max_steps": None, "lora_r": 0}
    errors = config_errors(values)
    assert sorted(errors) == ["lora_r", "max_steps", "num_generations", "temperature"]
    assert "group advantages" in str(errors["num_generations"]) and "whole number" in str(errors["max_steps"])
    with pytest.raises(ConfigError) as raised:
        RunConfig.from_dict(values)
    assert raised.value.field == "max_steps"  # the first, as before
    assert set(config_errors({"num_processes": 0, "prompts_per_step": 3})) == {"num_processes"}  # no division by 0
    assert config_errors(RunConfig().to_dict()) == {}
    assert set(config_errors({"max_step": 3})) == {"max_step"}


@pytest.mark.parametrize(("stored", "prompt_format"), [(True, "chat"), (False, "plain")])
def test_a_config_stored_with_use_chat_template_loads_rendering_its_prompts_as_before(stored, prompt_format):
    old = {**RunConfig().to_dict(), "use_chat_template": stored}
    del old["prompt_format"], old["lr_scheduler_type"]  # fields that release did not have
    assert RunConfig.from_dict(old) == RunConfig(prompt_format=prompt_format, lr_scheduler_type="constant")
    assert config_errors(old) == {}
    refused = config_errors({"use_chat_template": "yes"})
    assert list(refused) == ["prompt_format"] and "true or false" in str(refused["prompt_format"])


def test_every_scheduler_offered_builds_without_further_arguments():
    import torch
    from transformers import get_scheduler

    choices = dataclasses.fields(RunConfig)[field_names().index("lr_scheduler_type")].metadata["choices"]
    for name in choices:
        optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
        scheduler = get_scheduler(name, optimizer, num_warmup_steps=0, num_training_steps=10)
        assert scheduler.get_last_lr() == [1.0], name  # no warmup: every schedule starts at the learning rate


def test_the_paper_preset_trains_a_base_model_on_raw_prompts_with_linear_decay():
    paper = preset("paper")
    assert (paper.model, paper.prompt_format, paper.lr_scheduler_type) == ("Qwen/Qwen2.5-7B", "raw", "linear")
    assert RunConfig().lr_scheduler_type == preset("cpu-demo").lr_scheduler_type == "constant"


def test_every_setting_of_the_paper_preset_names_its_source():
    from training.preset_notes import PAPER, preset_notes

    assert list(PAPER) == list(PRESETS["paper"])
    assert all(preset_notes(name) for name in PRESETS)


def test_every_recipe_is_a_valid_config_and_sets_every_reward_field():
    from training.recipe_presets import RECIPES

    reward_fields = set.union(*(set(values) for values in RECIPES.values()))
    for name, values in RECIPES.items():
        assert set(values) == reward_fields, name
        RunConfig.from_dict(values)


def test_held_out_prompts_never_train_and_a_hybrid_needs_a_verifier_free_reward():
    assert config_errors({"eval_steps": 2, "eval_split": "train"})["eval_split"]
    assert not config_errors({"eval_steps": 0, "eval_split": "train"})
    assert config_errors({"reward": "verifier", "verifier_weight": 0.5})["verifier_weight"]
    assert not config_errors({"reward": "rlpr", "verifier_weight": 0.5})
    assert config_errors({"heldout_fraction": 0.0})["heldout_fraction"]
