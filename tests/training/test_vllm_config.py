"""vLLM generation's RunConfig fields: their checks, their command line, their GRPOConfig mapping, and the trainer's
refusal on a machine that cannot generate with vLLM (this one: no CUDA, no vllm)."""

import shlex

import pytest

from training.commands import build_config, command_line
from training.config import ConfigError, RunConfig
from training.interface import MemorySink, RunContext
from training.trainer import build_trainer, generation_problem, grpo_args

SERVER = dict(generation="vllm", vllm_mode="server")


@pytest.mark.parametrize(
    ("values", "field", "message"),
    [
        ({"vllm_mode": "remote"}, "vllm_mode", "vllm_mode must be one of colocate, server, got 'remote'"),
        ({"vllm_gpu_memory_utilization": 0.0}, "vllm_gpu_memory_utilization", "must be in (0.0, 1.0], got 0.0"),
        ({"vllm_gpu_memory_utilization": 1.2}, "vllm_gpu_memory_utilization", "must be in (0.0, 1.0], got 1.2"),
        ({"vllm_server_port": 0}, "vllm_server_port", "vllm_server_port must be in [1, 65535], got 0"),
        ({"vllm_server_port": 51216}, "vllm_server_port", "TRL's weight-update group uses that port"),
        ({"vllm_server_timeout": 0.0}, "vllm_server_timeout", "vllm_server_timeout must be > 0, got 0.0"),
        ({"vllm_server_host": "http://gpu1:8000"}, "vllm_server_host", "write 'localhost', not 'http://localhost"),
        ({"vllm_server_gpus": "1;2"}, "vllm_server_gpus", "distinct GPU numbers separated by commas"),
        ({"vllm_server_gpus": "1,1"}, "vllm_server_gpus", "distinct GPU numbers separated by commas"),
        ({"generation": "vllm", "device": "cpu"}, "generation", "generates on a CUDA GPU but device is 'cpu'"),
        ({**SERVER, "vllm_server_gpus": "0"}, "vllm_server_gpus", "shares GPU 0 with training, which runs on GPUs 0"),
        (
            {**SERVER, "vllm_server_gpus": "1,2", "num_processes": 2, "prompts_per_step": 2},
            "vllm_server_gpus",
            "shares GPU 1 with training, which runs on GPUs 0 to 1 (num_processes 2); give the server GPUs from 2 on",
        ),
        ({**SERVER, "vllm_server_gpus": "1", "vllm_server_host": "10.0.0.7"}, "vllm_server_host", "leave"),
        ({"generation": "vllm", "quantization": "4bit"}, "quantization", "the frozen base model drifts step by step"),
    ],
)
def test_bad_vllm_settings_are_refused_naming_field_value_and_fix(values, field, message):
    with pytest.raises(ConfigError) as caught:
        RunConfig.from_dict(values)
    assert (caught.value.field, message in str(caught.value)) == (field, True), str(caught.value)


def test_settings_that_only_matter_with_a_server_are_free_otherwise():
    # A training GPU named for a server is fine while no server is used.
    assert RunConfig(vllm_server_gpus="0").generation == "transformers"
    assert RunConfig(vllm_mode="server", quantization="4bit").generation == "transformers"
    assert RunConfig(**SERVER, vllm_server_host="gpu-box.lan").vllm_server_gpus == ""  # a server run elsewhere


def test_vllm_settings_round_trip_through_the_command_line():
    config = RunConfig(
        **SERVER,
        vllm_server_gpus="1,2",
        vllm_server_host="localhost",
        vllm_server_port=8123,
        vllm_server_timeout=600.0,
        vllm_gpu_memory_utilization=0.5,
    )
    words = shlex.split(command_line(config))
    assignments = [words[i + 1] for i, word in enumerate(words) if word == "--set"]
    assert "vllm_server_gpus=1,2" in assignments
    assert build_config(None, None, assignments) == config


def test_the_grpo_config_takes_the_vllm_fields_of_each_mode(tmp_path):
    plain = grpo_args(RunConfig(), tmp_path, "cpu", [1.0])
    assert (plain.use_vllm, plain.vllm_mode, plain.vllm_gpu_memory_utilization) == (False, "colocate", 0.3)
    colocate = grpo_args(RunConfig(generation="vllm", vllm_gpu_memory_utilization=0.45), tmp_path, "cpu", [1.0])
    assert (colocate.use_vllm, colocate.vllm_mode, colocate.vllm_gpu_memory_utilization) == (True, "colocate", 0.45)
    server = grpo_args(
        RunConfig(**SERVER, vllm_server_host="localhost", vllm_server_port=8123, vllm_server_timeout=500.0),
        tmp_path,
        "cpu",
        [1.0],
    )
    assert (server.use_vllm, server.vllm_mode, server.vllm_server_base_url) == (True, "server", None)
    assert (server.vllm_server_host, server.vllm_server_port, server.vllm_server_timeout) == ("localhost", 8123, 500.0)


def test_the_trainer_refuses_vllm_generation_without_cuda_before_loading_anything(tmp_path):
    sink = MemorySink()
    missing = tmp_path / "nothing-here"  # no model, no data folder: a refusal must come before either is read
    context = RunContext(run_id=1, home=missing, workdir=missing / "run")
    with pytest.raises(RuntimeError, match="generation 'vllm' needs a CUDA GPU and this machine has none"):
        build_trainer(RunConfig(generation="vllm", dataset=str(missing / "data.csv")), sink, context)
    assert (sink.metrics, sink.phases, missing.exists()) == ({}, [], False)
    assert "needs the vllm package" in generation_problem(RunConfig(generation="vllm"), cuda=True, vllm=False)
    assert generation_problem(RunConfig(generation="vllm"), cuda=True, vllm=True) is None
