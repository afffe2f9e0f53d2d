"""Which rows train and which are held out for the evaluation during training (RunConfig's "evaluation" fields).

With a split column the data says it: training uses the rows of `dataset_split`, the held-out prompts are the rows
of `eval_split`. Without one, a fixed fraction of the rows is held out, chosen by a hash of each row's content and
`heldout_seed` (never the run's seed): every run of an experiment on the same data holds out the same rows, whatever
seed it trains with, and a copy of a held-out row elsewhere in the file is held out with it, so it cannot train
either. Those rows are removed from training only when the run evaluates (eval_steps > 0); a run without
evaluation trains on every row as before.

`max_prompts` limits the training prompts only; the evaluation takes the first `eval_prompts` held-out prompts in
source order, the same ones at every step and in every run. Standard library and training.data only: the UI
checks a run's split when it is queued.
"""

from __future__ import annotations

import dataclasses
import hashlib
from dataclasses import dataclass

from training.config import RunConfig
from training.data import MAX_FILE_BYTES, DataError, Example, LoadedData, load_examples


@dataclass(frozen=True)
class RunData:
    training: LoadedData
    """The prompts that train, max_prompts applied."""
    heldout: tuple[Example, ...]
    """The held-out prompts the evaluation uses (at most eval_prompts, in source order); empty without evaluation."""


def held_out(example: Example, fraction: float, seed: int) -> bool:
    """Whether a row of data without a split column is held out: a hash of (seed, prompt, reference), read as a
    number in [0, 1), falls below `fraction`. The row's content decides, not its position, so reordering or
    appending rows keeps every earlier choice.

    >>> row = Example("row 1", "What is 2 + 2?", "4", None)
    >>> held_out(row, 0.5, seed=0) == held_out(Example("row 9", "What is 2 + 2?", "4", None), 0.5, seed=0)
    True
    >>> held_out(row, 0.0, seed=0), held_out(row, 1.0, seed=0)
    (False, True)
    """
    digest = hashlib.sha256(f"{seed}\0{example.prompt}\0{example.reference}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < fraction


def run_data(config: RunConfig, *, max_bytes: int = MAX_FILE_BYTES, row_limit: int | None = None) -> RunData:
    """The training prompts and the held-out prompts of `config`'s data; DataError (naming the field and the fix)
    when either is empty. `max_bytes` and `row_limit` as for load_examples (the UI's limits on an upload)."""
    c = config

    def load(split: str, max_rows: int | None) -> LoadedData:
        return load_examples(
            c.dataset,
            c.prompt_column,
            c.reference_column,
            c.split_column,
            split,
            max_rows,
            config_name=c.dataset_config,
            max_bytes=max_bytes,
            row_limit=row_limit,
        )

    if not c.eval_steps:
        return RunData(load(c.dataset_split, c.max_prompts), ())
    every = load(c.dataset_split, None)
    if c.split_column in every.columns:
        training = every
        try:
            heldout = load(c.eval_split, None).examples
        except DataError as exc:
            raise DataError(f"eval_split {c.eval_split!r}: {exc}") from None
    else:
        chosen = [held_out(e, c.heldout_fraction, c.heldout_seed) for e in every.examples]
        heldout = tuple(e for e, out in zip(every.examples, chosen) if out)
        kept = tuple(e for e, out in zip(every.examples, chosen) if not out)
        if not heldout:
            raise DataError(
                f"heldout_fraction {c.heldout_fraction} holds out none of the {len(every.examples)} usable rows of "
                f"{c.dataset}; raise heldout_fraction, try another heldout_seed, or add a {c.split_column!r} column"
            )
        if not kept:
            raise DataError(
                f"heldout_fraction {c.heldout_fraction} holds out all {len(every.examples)} usable rows of "
                f"{c.dataset}, leaving none to train; lower heldout_fraction or add rows"
            )
        training = dataclasses.replace(every, examples=kept)
    return RunData(_first(training, c.max_prompts), heldout[: c.eval_prompts])


def _first(data: LoadedData, max_prompts: int | None) -> LoadedData:
    if max_prompts is None or len(data.examples) <= max_prompts:
        return data
    extra = len(data.examples) - max_prompts
    return dataclasses.replace(data, examples=data.examples[:max_prompts], truncated=data.truncated + extra)


EVALUATION_FIELDS = ("eval_steps", "eval_prompts", "eval_samples", "eval_split", "heldout_fraction", "heldout_seed")
SAMPLING_FIELDS = ("temperature", "top_p", "max_completion_length", "prompt_format", "prompt_template")


def heldout_settings(config: RunConfig) -> dict[str, object]:
    """What a held-out evaluation row keeps as its config: the run's evaluation and sampling fields, the judge.

    >>> heldout_settings(RunConfig(eval_steps=4))["judge"], heldout_settings(RunConfig())["eval_split"]
    ('base', 'test')
    """
    fields = {name: getattr(config, name) for name in (*EVALUATION_FIELDS, *SAMPLING_FIELDS)}
    return {**fields, "judge": "base", "seed": config.heldout_seed}
