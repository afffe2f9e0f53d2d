import shlex

import pytest

from training.config import ConfigError, RunConfig, preset
from training.run import build_config, command_line, parse_assignment


def test_assignments_read_json_values_and_fall_back_to_text():
    assert parse_assignment("max_steps=5") == ("max_steps", 5)
    assert parse_assignment("learning_rate=1e-5") == ("learning_rate", 1e-5)
    assert parse_assignment("format_example=true") == ("format_example", True)
    assert parse_assignment("dataset=data/my file.csv") == ("dataset", "data/my file.csv")
    with pytest.raises(ConfigError, match="key=value"):
        parse_assignment("max_steps")


def test_preset_then_file_then_assignments(tmp_path):
    file = tmp_path / "run.json"
    file.write_text(preset("cpu-demo", max_steps=7, seed=3).to_json())
    config = build_config("paper", file, ["seed=9"])
    assert (config.max_steps, config.seed, config.model) == (7, 9, RunConfig().model)
    with pytest.raises(ConfigError, match="num_generations must be >= 2"):
        build_config("cpu-demo", None, ["num_generations=1"])


@pytest.mark.parametrize("name", ["cpu-demo", "paper", "inverse"])
def test_the_printed_command_reproduces_the_config(name):
    config = preset(name, dataset="/data/my questions.csv")
    words = shlex.split(command_line(config))
    assert words[:3] == ["python", "-m", "training.run"]
    assignments = [words[i + 1] for i, word in enumerate(words) if word == "--set"]
    assert build_config(None, None, assignments) == config


def test_the_multi_gpu_command_uses_accelerate_launch():
    line = command_line(preset("paper", num_processes=4), launcher="accelerate")
    assert line.startswith("accelerate launch --num_processes 4 -m training.run ")
    assert "--set num_processes=4" in line
