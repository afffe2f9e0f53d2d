"""Real GRPO training of the default model on CPU: the shared 2-step cpu-demo run (tests/trained_run.py), then a
resumed step."""

import json
from pathlib import Path

import pytest

from storage import Store
from tests.trained_run import CONFIG, WEIGHTS, copy_trained_db
from training.config import RunConfig, preset
from training.execute import run_training
from training.trainer import train

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def trained(trained_home):
    """The shared run's store (read only), its id, and its weights' digests before and after training."""
    store = Store(f"sqlite:///{trained_home / 'nover_ui.db'}")
    [run] = store.list_runs()
    weights = json.loads((trained_home / WEIGHTS).read_text())
    yield store, run.id, weights["before"], weights["after"]
    store.close()


def test_lora_weights_moved_and_base_weights_did_not(trained):
    _, _, before, after = trained
    policy = [n for n in before if "lora_" in n and ".default." in n]
    base = [n for n in before if "lora_" not in n]
    assert policy and base and set(after) == set(before)
    assert any(before[n] != after[n] for n in policy)
    assert all(before[n] == after[n] for n in base)


def test_every_step_wrote_metrics_with_every_reward_component(trained):
    store, run_id, *_ = trained
    metrics = store.get_metrics(run_id)
    for key in (
        "reward",
        "reward_std",
        "rewards/format/mean",
        "rewards/reasoning/mean",
        "rewards/efficiency/mean",
        "frac_reward_zero_std",
        "completions/mean_length",
        "loss",
        "entropy",
        "step_time",
    ):
        assert metrics[key].steps == (1, 2), key
    # The reference perplexity is a mean over format-valid rollouts: a step without one (the small model often
    # misses the format at first) has none to report.
    scored_steps = tuple(step for step, (valid, _) in store.format_valid_counts(run_id).items() if valid)
    assert scored_steps and metrics["nover/perplexity/mean"].steps == scored_steps
    assert store.get_run(run_id).step == 2
    assert metrics["data/prompts"].values == (float(CONFIG.max_prompts),) and metrics["data/skipped_rows"].values == (
        0.0,
    )


def test_every_rollout_was_stored_with_its_rewards_and_advantage(trained):
    store, run_id, *_ = trained
    rollouts = store.get_rollouts(run_id)
    group_size = CONFIG.num_generations
    assert [r.step for r in rollouts] == [1] * group_size + [2] * group_size
    for r in rollouts:
        assert r.reward == pytest.approx(r.reward_format + r.reward_reasoning + r.reward_efficiency)
        assert r.advantage is not None and r.completion_tokens > 0
        assert (r.perplexity is not None) == r.format_valid == (r.reasoning_tokens is not None)
        assert len(r.extras["baseline_nll"]) == len(r.extras["target_tokens"]) > 0
        assert "".join(r.extras["target_tokens"]).strip() == f"<answer>\n{r.reference}\n</answer>"
        if r.format_valid:
            assert len(r.extras["target_nll"]) == len(r.extras["baseline_nll"])
    for step in (1, 2):
        group = [r for r in rollouts if r.step == step]
        assert [r.sample_index for r in group] == list(range(group_size)) and {r.group_index for r in group} == {0}
        # GRPO advantages of one group are centred on zero.
        assert sum(r.advantage for r in group) == pytest.approx(0.0, abs=1e-3)


def test_checkpoints_hold_policy_and_proxy(trained):
    store, run_id, *_ = trained
    checkpoints = store.list_checkpoints(run_id)
    assert [c.step for c in checkpoints] == [1, 2]
    last = Path(checkpoints[-1].path)
    assert last.name == "checkpoint-2"
    for needed in ("adapter_model.safetensors", "ref/adapter_model.safetensors", "optimizer.pt", "trainer_state.json"):
        assert (last / needed).exists(), needed


def test_a_resumed_run_continues_from_its_parents_checkpoint(trained, trained_home, model_home, tmp_path):
    # On a copy of the shared database, which other tests read as holding the one run.
    _, parent_id, *_ = trained
    copy_trained_db(trained_home, tmp_path)
    store = Store(f"sqlite:///{tmp_path / 'nover_ui.db'}")
    (tmp_path / "models").symlink_to(model_home / "models", target_is_directory=True)
    child = store.create_run("resumed", {**CONFIG.to_dict(), "max_steps": 3}, parent_id=parent_id)
    claimed = store.claim_next_run("test")
    done = run_training(store, claimed, RunConfig.from_dict(claimed.config), train, tmp_path)
    assert done.status == "succeeded", done.error
    assert store.get_metrics(child.id)["reward"].steps == (3,)
    assert {r.step for r in store.get_rollouts(child.id)} == {3}


def test_a_model_that_does_not_exist_fails_the_run_saying_what_was_tried(model_home, store, monkeypatch):
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)  # this machine has no hub access
    run = store.create_run("bad model", preset("cpu-demo", model="no-such-org/no-such-model").to_dict())
    claimed = store.claim_next_run("test")
    done = run_training(store, claimed, RunConfig.from_dict(claimed.config), train, model_home)
    assert done.status == "failed"
    assert "ModelLoadError" in done.error and "tried" in done.error and "no-such-org/no-such-model" in done.error
    assert set(store.get_metrics(run.id)) == {"data/prompts", "data/skipped_rows"}  # data loaded, no step ran
