import pytest

from nover_ui.config_form import GROUP_TITLES, config_to_values, form_fields, run_cost, values_to_config
from training.config import ConfigError, RunConfig, field_names, preset


def test_every_config_field_gets_a_widget_in_a_titled_group_with_its_help():
    fields = form_fields()
    assert [f.name for f in fields] == field_names()
    assert {f.group for f in fields} == set(GROUP_TITLES)
    assert all(f.help for f in fields)
    kinds = {f.name: f.kind for f in fields}
    assert (kinds["learning_rate"], kinds["num_generations"], kinds["prefill_intermediate"], kinds["model"]) == (
        float,
        int,
        bool,
        str,
    )
    assert next(f for f in fields if f.name == "max_prompts").optional
    assert next(f for f in fields if f.name == "quantization").choices == ("none", "4bit")


def test_values_round_trip_through_the_form():
    config = preset("cpu-demo", max_prompts=40)
    assert RunConfig.from_dict(values_to_config(config_to_values(config))) == config


def test_number_widgets_hand_back_floats_and_zero_means_none_for_optional_fields():
    values = config_to_values(RunConfig())
    names = field_names()
    values[names.index("num_generations")] = 4.0
    values[names.index("max_prompts")] = 0
    config = values_to_config(values)
    assert config["num_generations"] == 4 and isinstance(config["num_generations"], int)
    assert config["max_prompts"] is None


def test_a_cleared_required_number_is_refused_naming_the_field():
    values = config_to_values(RunConfig())
    values[field_names().index("max_steps")] = None
    with pytest.raises(ConfigError) as refused:
        RunConfig.from_dict(values_to_config(values))
    assert refused.value.field == "max_steps"


def test_run_cost_counts_rollouts_and_tokens():
    text = run_cost(
        RunConfig(prompts_per_step=2, num_generations=4, max_completion_length=100, max_steps=10), prompt_chars=400
    )
    assert "= 8 rollouts per step" in text and "80 rollouts in all" in text
    assert "at most 800 per step, 8,000 per run" in text
    assert "about 800 per step" in text  # 400 chars ~ 100 tokens x 8 rollouts
