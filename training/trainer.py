"""Entry point of NOVER training: `train(config, sink, context)`.

The GRPO trainer itself (TRL with NOVER rewards, proxy adapter, persisted rollouts) is the training-core
issue; until it lands a queued run fails with this explanation instead of pretending to train.
"""

from __future__ import annotations

from training.config import RunConfig
from training.interface import RunContext, Sink


def train(config: RunConfig, sink: Sink, context: RunContext) -> None:
    raise NotImplementedError(
        "this nover_ui build has no NOVER trainer yet (it arrives with the training-core issue); "
        "the run was stored and can be resumed or cloned once a trainer is installed"
    )
