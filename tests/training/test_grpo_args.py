"""The run config as TRL's GRPOConfig sees it (training.trainer.grpo_args), and the precision each dtype trains in."""

import pytest
from trl import GRPOConfig

from training.config import LOSS_TYPES, SCALE_REWARDS, ConfigError, preset
from training.trainer import grpo_args, mixed_precision

WEIGHTS = [1.0, 1.0, 1.0]


def args(tmp_path, **options) -> GRPOConfig:
    return grpo_args(preset("cpu-demo", **options), tmp_path, "cpu", WEIGHTS)


@pytest.mark.parametrize("loss_type", LOSS_TYPES)
def test_every_loss_type_maps_through_to_a_valid_grpo_config(loss_type, tmp_path):
    options = {"loss_type": loss_type, "epsilon_high": 5.0} if loss_type == "cispo" else {"loss_type": loss_type}
    mapped = args(tmp_path, **options)
    assert mapped.loss_type == loss_type
    # LUSPO is defined on sequence-level importance ratios; every other loss on TRL's default token-level ones.
    assert mapped.importance_sampling_level == ("sequence" if loss_type == "luspo" else "token")


def test_cispo_refuses_an_epsilon_high_that_would_cap_ratios_below_one():
    with pytest.raises(ConfigError, match="epsilon_high") as caught:
        preset("cpu-demo", loss_type="cispo")
    assert caught.value.field == "epsilon_high" and "5.0" in str(caught.value)


@pytest.mark.parametrize("scale_rewards", SCALE_REWARDS)
def test_scale_rewards_maps_through(scale_rewards, tmp_path):
    assert args(tmp_path, scale_rewards=scale_rewards).scale_rewards == scale_rewards


def test_sampling_and_optimisation_options_map_through(tmp_path):
    mapped = args(
        tmp_path,
        top_p=0.9,
        temperature=0.5,
        beta=0.1,
        epsilon=0.15,
        epsilon_high=0.3,
        num_iterations=2,
        gradient_checkpointing=True,
        max_grad_norm=0.5,
    )
    assert (mapped.top_p, mapped.temperature, mapped.beta) == (0.9, 0.5, 0.1)
    assert (mapped.epsilon, mapped.epsilon_high, mapped.num_iterations) == (0.15, 0.3, 2)
    assert mapped.gradient_checkpointing and mapped.max_grad_norm == 0.5


def test_a_cpu_run_trains_in_the_weights_precision(tmp_path):
    assert (args(tmp_path).bf16, args(tmp_path).fp16) == (False, False)  # auto: float32 on a CPU
    assert (args(tmp_path, dtype="bfloat16").bf16, args(tmp_path, dtype="bfloat16").fp16) == (True, False)


@pytest.mark.parametrize(
    ("dtype", "device", "bf16_supported", "expected"),
    [
        ("auto", "cuda", True, (True, False)),
        ("auto", "cuda", False, (False, True)),
        ("auto", "cpu", False, (False, False)),
        ("float32", "cuda", True, (False, False)),  # what a bf16 GPU used to override
        ("float16", "cuda", True, (False, True)),
        ("bfloat16", "cuda", True, (True, False)),
        ("float16", "cpu", False, (False, False)),  # CPUs autocast bfloat16 only
        ("bfloat16", "cpu", False, (True, False)),
    ],
)
def test_dtype_decides_the_mixed_precision(dtype, device, bf16_supported, expected):
    assert mixed_precision(dtype, device, bf16_supported) == expected


def test_bfloat16_on_a_gpu_without_it_is_refused_with_the_fix():
    with pytest.raises(ValueError, match="choose float16 or auto"):
        mixed_precision("bfloat16", "cuda", bf16_supported=False)


def test_the_trackers_map_to_trls_report_to_with_the_runs_name(tmp_path):
    tracked = grpo_args(preset("cpu-demo", report_to="wandb, trackio"), tmp_path, "cpu", WEIGHTS, run_name="demo #3")
    assert (tracked.report_to, tracked.run_name, tracked.project) == (["wandb", "trackio"], "demo #3", "nover_ui")
    assert args(tmp_path).report_to == []  # transformers reads "none" as no tracker at all
