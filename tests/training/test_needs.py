"""What a run needs of its machine, checked against what workers' machines have."""

import pytest

from training.config import RunConfig
from training.needs import Capabilities, can_run, needs, refusal, unmet, waiting_reason

CPU = Capabilities(bitsandbytes=True, torch="2.13.0")
BARE_CPU = Capabilities()
OLD_GPU = Capabilities(cuda=True, gpus=1, bitsandbytes=True)  # no bf16 (e.g. a T4)
GPU = Capabilities(cuda=True, gpus=1, bf16=True, bitsandbytes=True)
VLLM_NODE = Capabilities(cuda=True, gpus=4, bf16=True, bitsandbytes=True, vllm=True)


def lacking(capabilities, **config):
    return [need.field for need in unmet(RunConfig(**config), capabilities)]


def test_the_defaults_need_nothing_so_any_worker_trains_them():
    assert needs(RunConfig()) == []
    assert all(lacking(machine) == [] for machine in (BARE_CPU, CPU, OLD_GPU, GPU))


@pytest.mark.parametrize(
    ("config", "machine", "fields"),
    [
        (dict(device="cuda"), CPU, ["device"]),
        (dict(device="cuda"), GPU, []),
        (dict(quantization="4bit"), BARE_CPU, ["quantization"]),
        (dict(quantization="4bit"), CPU, []),  # bitsandbytes 0.50 quantizes on CPU
        (dict(generation="vllm"), CPU, ["generation", "generation"]),  # no GPU, no vllm
        (dict(generation="vllm"), GPU, ["generation"]),  # the GPU, but no vllm
        (dict(generation="vllm"), VLLM_NODE, []),
        # bf16 matters only where the run lands on a GPU: auto trains on the CPU of a machine without one.
        (dict(dtype="bfloat16"), CPU, []),
        (dict(dtype="bfloat16"), OLD_GPU, ["dtype"]),
        (dict(dtype="bfloat16", device="cpu"), OLD_GPU, []),
        (dict(dtype="bfloat16", device="cuda"), GPU, []),
        # One process per GPU on GPUs; CPU processes share the cores.
        (dict(num_processes=2, prompts_per_step=2), CPU, []),
        (dict(num_processes=2, prompts_per_step=2), GPU, ["num_processes"]),
        (dict(num_processes=2, prompts_per_step=2, device="cpu"), GPU, []),
        (dict(num_processes=4, prompts_per_step=4, generation="vllm"), VLLM_NODE, []),
        # A server the worker starts runs on GPUs its own machine must have.
        (dict(generation="vllm", vllm_mode="server", vllm_server_gpus="1"), VLLM_NODE, []),
        (dict(generation="vllm", vllm_mode="server", vllm_server_gpus="4"), VLLM_NODE, ["vllm_server_gpus"]),
        (dict(generation="vllm", vllm_mode="server", vllm_server_host="10.0.0.2"), VLLM_NODE, []),  # started apart
    ],
)
def test_what_a_machine_lacks_for_a_config(config, machine, fields):
    assert lacking(machine, **config) == fields


def test_each_need_says_why_and_names_the_fix():
    [bnb] = unmet(RunConfig(quantization="4bit"), BARE_CPU)
    assert bnb.message() == (
        "quantization 4bit needs bitsandbytes: pip install bitsandbytes on the worker's machine, or set quantization "
        "to none"
    )
    [cuda] = unmet(RunConfig(device="cuda"), CPU)
    assert cuda.message() == (
        "device cuda needs a CUDA GPU: start a worker on a machine with one, or set device to auto or cpu"
    )


def test_a_refusal_names_what_the_closest_worker_lacks_and_none_when_one_can_or_none_is_live():
    config = RunConfig(device="cuda", quantization="4bit")
    refused = refusal(config, [BARE_CPU, Capabilities(cuda=True, gpus=1)])
    assert refused is not None and refused.field == "quantization"  # the GPU worker lacks only bitsandbytes
    assert str(refused).startswith("no live worker can train this run (2 checked): quantization 4bit needs")
    assert refusal(config, [BARE_CPU, GPU]) is None
    assert refusal(config, []) is None
    assert waiting_reason(config.to_dict(), [BARE_CPU]) == "no live worker: device cuda needs a CUDA GPU"
    assert waiting_reason(config.to_dict(), [GPU]) is None


def test_a_worker_claims_an_invalid_stored_config_to_fail_it_with_the_reason():
    assert can_run({"num_generations": 1}, BARE_CPU)
    assert not can_run({"device": "cuda"}, BARE_CPU)
    assert can_run({"device": "cuda"}, GPU)


def test_capabilities_stored_by_an_older_or_newer_worker_still_read():
    assert Capabilities.from_dict({}) == BARE_CPU
    assert Capabilities.from_dict({**GPU.to_dict(), "tpu": True}) == GPU


def test_this_machine_is_detected_as_it_is():
    torch = pytest.importorskip("torch")
    from training.capabilities import detect

    found = detect()
    assert found.cuda == torch.cuda.is_available() and found.gpus == torch.cuda.device_count()
    assert found.torch == torch.__version__
    try:
        import bitsandbytes  # noqa: F401
    except ImportError:
        assert not found.bitsandbytes
    else:
        assert found.bitsandbytes
    if not found.cuda:
        assert not found.bf16 and not found.vllm
