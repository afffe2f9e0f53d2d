"""NOVER on TRL's GRPOTrainer: reward functions sharing one scorer per step, and thin callbacks to the sink."""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from accelerate import PartialState
from accelerate.utils import broadcast_object_list, gather_object
from peft import PeftModel
from peft.tuners.lora import LoraLayer
from transformers import TrainerCallback
from trl import GRPOTrainer

from training.config import REFERENCE_REWARDS, RunConfig
from training.group_rewards import component_weights
from training.interface import Sink
from training.recipes import StdFilter, group_std
from training.scorer import NoverScorer, ScoredRollout, mean_finite


@dataclass
class ScoredBatch:
    """This process's rollouts of the step being generated, as the reward functions saw and scored them."""

    prompts: list[str]
    completions: list[str]
    completion_tokens: list[int]
    truncated: list[bool]
    references: list[str]
    scored: list[ScoredRollout]


class NoverRewards:
    """Reward functions for TRL, one per reward component. TRL calls each in turn with the same batch; the first
    call scores it once (NoverScorer.score) and every function reads its own component from that.

    Each function is named after its component (TRL logs `rewards/<name>/mean`): `format`, the recipe's own
    (`reasoning` for NOVER, keeping old runs' keys; `rlpr`, `logprob`, `verifree`, `self_certainty`, `verifier`),
    `efficiency` (NOVER only) and `verifier` in a hybrid. GRPOConfig.reward_weights applies the weights, so TRL's
    sum equals the stored total (training.group_rewards).
    """

    def __init__(self, config: RunConfig, eos_token_ids: set[int]):
        self.config, self.eos_token_ids = config, eos_token_ids
        self.scorer: NoverScorer | None = None
        """Set once the trainer has built the PEFT model the scorer runs."""
        self.batch: ScoredBatch | None = None
        self._key: tuple | None = None

    def functions(self) -> tuple[list[Callable[..., list[float]]], list[float]]:
        weights = component_weights(self.config)
        return [self._component(name) for name in weights], list(weights.values())

    def _component(self, name: str) -> Callable[..., list[float]]:
        def component(prompts, completions, **kwargs) -> list[float]:  # type: ignore[no-untyped-def]  # TRL's reward-function signature; TRL passes untyped batches
            return [s.components[name] for s in self._score(prompts, completions, **kwargs)]

        component.__name__ = name  # TRL names the reward function's metrics after it
        return component

    def _score(
        self,
        prompts: list[str],
        completions: list[str],
        completion_ids: list[list[int]],
        example_id: list[str],
        reference: list[str],
        log_metric: Callable[[str, float], None] | None = None,
        **_: Any,
    ) -> list[ScoredRollout]:
        key = (tuple(prompts), tuple(completions))
        if key != self._key:
            assert self.scorer is not None, "NoverRewards.scorer must be set before training starts"
            scored = self.scorer.score(prompts, completions, example_id, reference, completion_ids)
            limit = self.config.max_completion_length
            self.batch = ScoredBatch(
                list(prompts),
                list(completions),
                [len(ids) for ids in completion_ids],
                [len(ids) >= limit and ids[-1] not in self.eos_token_ids for ids in completion_ids],
                list(reference),
                scored,
            )
            self._key = key
            if log_metric is not None and self.config.reward in REFERENCE_REWARDS:
                log_metric("nover/perplexity/mean", mean_finite([s.perplexity for s in scored]))
        assert self.batch is not None
        return self.batch.scored


class NoverGRPOTrainer(GRPOTrainer):
    """GRPOTrainer plus one hook: after TRL scores a generation batch, RLPR's filter (when on) zeroes the advantages
    of low-spread groups, and the rollouts are reported together with the advantages TRL computed for them (TRL keeps
    no per-rollout record of the advantages it uses)."""

    on_rollouts: Callable[[list[float]], None] | None = None
    merge_for_generation: bool = False
    """Generate through the policy adapter merged into the base weights (see merged_policy)."""
    rewards: NoverRewards | None = None
    std_filter: StdFilter | None = None
    """RLPR's filter of low-spread prompts (rlpr_std_filter); needs `rewards`, whose batch it reads."""

    def _generate_single_turn(self, *args, **kwargs):  # type: ignore[no-untyped-def]  # TRL's private hook, untyped in TRL
        if not self.merge_for_generation or self.use_vllm:
            return super()._generate_single_turn(*args, **kwargs)
        with merged_policy(self.accelerator.unwrap_model(self.model)):
            return super()._generate_single_turn(*args, **kwargs)

    def _generate_and_score_completions(self, inputs):  # type: ignore[no-untyped-def]  # TRL's private hook, untyped in TRL
        output = super()._generate_and_score_completions(inputs)
        if self.std_filter is not None and self.model.training:
            output["advantages"] = self._filter_low_spread(output["advantages"])
        if self.on_rollouts is not None and self.model.training:
            self.on_rollouts(output["advantages"].tolist())
        return output

    def _filter_low_spread(self, advantages: torch.Tensor) -> torch.Tensor:
        """RLPR's filter: the groups whose total-reward std is below the filter's floor train nothing this step, so
        their advantages become 0 (the rollouts are still reported, with those zeros). Every process sees every
        group's rewards (gathered), so all take the same decisions and update the EMA alike."""
        assert self.std_filter is not None and self.rewards is not None and self.rewards.batch is not None
        local = [(s.example_id, s.rewards.total) for s in self.rewards.batch.scored]
        totals: dict[str, list[float]] = {}
        for example_id, total in gather_object(local):
            totals.setdefault(example_id, []).append(total)
        kept = dict(zip(totals, self.std_filter.keep([group_std(v) for v in totals.values()])))
        # TRL averages each logged value over the step; a mode key of "train" is where its own reward metrics go.
        self._metrics["train"]["rlpr/filtered_frac"].append(1 - sum(kept.values()) / max(1, len(kept)))
        mask = torch.tensor([kept[example_id] for example_id, _ in local], device=advantages.device)  # (B,)
        return advantages * mask.to(advantages.dtype)  # (B,)


@contextlib.contextmanager
def merged_policy(model: PeftModel) -> Iterator[None]:
    """The active (policy) adapter merged into the base weights for the block, unmerged after it, the base weights
    given back bit for bit.

    Decoding runs a few rows through every layer once per token, so its time goes into per-module call overhead:
    an unmerged LoRA layer makes several extra calls (A, B, scaling, the add) per base linear, and merged it makes
    none; greedy tokens are unchanged (tests/training/test_proxy.py). bench/bench_step_overhead.py shows the
    generation time merged (NOVER) beside unmerged (TRL). Only the active adapter merges: the proxy stays apart.
    A merged layer also skips LoRA dropout, so rollouts are sampled from the policy itself, not from one dropout
    draw of it.

    The round trip (W + d) - d does not always give W back in floating point: on the default model about 0.1% of
    the weights came back one rounding off, and over many steps the frozen base would drift. Those few weights are
    found before the merge (the same arithmetic, done once more) and written back after the unmerge.
    """
    adapter = model.active_adapter
    off_by_rounding = []
    with torch.no_grad():
        for layer in model.modules():
            if isinstance(layer, LoraLayer) and adapter in layer.lora_A:
                weight = layer.get_base_layer().weight
                delta = layer.get_delta_weight(adapter)
                lost = (weight + delta) - delta != weight
                off_by_rounding.append((weight, lost, weight[lost]))
        model.merge_adapter()
    try:
        yield
    finally:
        with torch.no_grad():
            model.unmerge_adapter()
            for weight, lost, original in off_by_rounding:
                weight[lost] = original


def rollout_rows(batch: ScoredBatch, advantages: Sequence[float]) -> list[dict[str, Any]]:
    """This process's rollouts as rows for the sink; group/sample indices are assigned after gathering."""
    rows = []
    for i, scored in enumerate(batch.scored):
        rows.append(
            dict(
                example_id=scored.example_id,
                prompt=batch.prompts[i],
                reference=batch.references[i],
                completion=batch.completions[i],
                reasoning=scored.reasoning,
                answer=scored.answer,
                reward=scored.rewards.total,
                reward_format=scored.rewards.format,
                reward_reasoning=scored.rewards.reasoning,
                reward_efficiency=scored.rewards.efficiency,
                perplexity=scored.perplexity,
                reasoning_tokens=scored.reasoning_tokens,
                completion_tokens=batch.completion_tokens[i],
                advantage=advantages[i],
                truncated=batch.truncated[i],
                format_valid=scored.valid,
                extras=rollout_extras(scored),
            )
        )
    return rows


def rollout_extras(scored: ScoredRollout) -> dict[str, Any]:
    """A stored rollout's `extras`:

    - "rewards": every reward component by name, unweighted, e.g. {"format": 1.0, "rlpr": 0.12, "verifier": 1.0};
      the columns reward_format / reward_reasoning (the recipe's component) / reward_efficiency repeat three of them.
    - "recipe_value": the recipe's raw value before shaping (valid rollouts of rlpr, logprob, verifree,
      self_certainty), absent otherwise.
    - "target_nll" (valid rollouts) and "baseline_nll" (every rollout): the reference's per-token NLL after the
      reasoning and after none, for reference-based recipes; the reporter adds "target_tokens" (the token view).
    """
    extras: dict[str, Any] = {"rewards": dict(scored.components)}
    if scored.recipe_value is not None:
        extras["recipe_value"] = scored.recipe_value
    if scored.target_nll is not None:
        extras["target_nll"] = list(scored.target_nll)
    if scored.baseline_nll is not None:
        extras["baseline_nll"] = list(scored.baseline_nll)
    return extras


def number_groups(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Give each row its group index (order of first appearance of its prompt) and its index in the group; the
    example's id ("row 12") goes to the Store as the prompt's `data_row`, which matches it across runs."""
    groups: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        data_row = row.pop("example_id")
        groups.setdefault(data_row, []).append({**row, "data_row": data_row})
    numbered = []
    for group_index, members in enumerate(groups.values()):
        for sample_index, row in enumerate(members):
            numbered.append({**row, "group_index": group_index, "sample_index": sample_index})
    return numbered


class RolloutReporter:
    """Bound to NoverGRPOTrainer.on_rollouts: gathers every process's rollouts to the main one, reports them."""

    def __init__(self, trainer: NoverGRPOTrainer, rewards: NoverRewards, sink: Sink, scorer: NoverScorer | None):
        """`scorer` (None when the recipe scores no reference) adds each prompt's reference tokens as text; their
        NLLs with and without reasoning came from the scoring pass itself."""
        self.trainer, self.rewards, self.sink, self.scorer = trainer, rewards, sink, scorer

    def __call__(self, advantages: list[float]) -> None:
        assert self.rewards.batch is not None, "TRL scored a batch without calling the NOVER reward functions"
        rows = gather_object(rollout_rows(self.rewards.batch, advantages))
        if not self.trainer.is_world_process_zero():
            return
        rows = number_groups(rows)
        if self.scorer is not None:
            self._add_target_tokens(rows)
        # Generation happens before the optimizer step it feeds, so these rollouts belong to the next step. TRL
        # generates once every num_iterations optimizer steps (GRPOTrainer._prepare_inputs) and trains the later
        # ones on the same rollouts with the same advantages: each rollout is reported once, at its first step.
        self.sink.log_rollouts(self.trainer.state.global_step + 1, rows)

    def _add_target_tokens(self, rows: list[dict[str, Any]]) -> None:
        """Per prompt, the reference target's token strings (the token view; the UI process has no tokenizer)."""
        assert self.scorer is not None
        firsts = [row for row in rows if row["sample_index"] == 0]
        tokens = self.scorer.target_tokens([row["reference"] for row in firsts])
        by_group = {row["group_index"]: row_tokens for row, row_tokens in zip(firsts, tokens)}
        for row in rows:
            row["extras"] = {**(row["extras"] or {}), "target_tokens": by_group[row["group_index"]]}


class SinkCallback(TrainerCallback):
    """Reports each step's metrics (and checkpoints) to the sink; stops training when the sink asks."""

    def __init__(self, sink: Sink):
        self.sink = sink
        self._step_started = time.perf_counter()
        self._step_time = math.nan

    def on_step_begin(self, args, state, control, **kwargs):  # type: ignore[no-untyped-def]  # a transformers TrainerCallback hook; transformers types it loosely
        self._step_started = time.perf_counter()

    def on_step_end(self, args, state, control, **kwargs):  # type: ignore[no-untyped-def]  # a transformers TrainerCallback hook; transformers types it loosely
        self._step_time = time.perf_counter() - self._step_started
        stop = state.is_world_process_zero and self.sink.should_stop()
        if PartialState().num_processes > 1:
            stop = broadcast_object_list([stop])[0]  # every process must leave the loop at the same step
        if stop:
            control.should_training_stop = True
        if control.should_training_stop or state.global_step >= state.max_steps:
            control.should_save = True  # a stopped or finished run can always be resumed or evaluated

    def on_log(self, args, state, control, logs=None, **kwargs):  # type: ignore[no-untyped-def]  # a transformers TrainerCallback hook; transformers types it loosely
        if not state.is_world_process_zero or not logs or "loss" not in logs:
            return  # the end-of-training summary has no "loss" and duplicates the last step
        metrics = {
            key: float(value)
            for key, value in logs.items()
            if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
        }
        if math.isfinite(self._step_time):
            metrics["step_time"] = self._step_time
        self.sink.log_metrics(state.global_step, metrics)

    def on_save(self, args, state, control, **kwargs):  # type: ignore[no-untyped-def]  # a transformers TrainerCallback hook; transformers types it loosely
        if PartialState().num_processes > 1:
            # Each process writes its own RNG state into the folder after the shared barrier of the save: wait for
            # all of them, so that the folder the sink may copy to an artifact store is complete.
            PartialState().wait_for_everyone()
        if state.is_world_process_zero:
            self.sink.log_checkpoint(state.global_step, f"{args.output_dir}/checkpoint-{state.global_step}")
