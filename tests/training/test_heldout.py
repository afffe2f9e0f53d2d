"""Which rows train and which are held out (training/heldout.py): the split column's rule, the seeded hash fraction
for data without one, max_prompts and eval_prompts. No model."""

from pathlib import Path

import pytest

from training.config import DEMO_DATASET, RunConfig
from training.data import DataError
from training.heldout import held_out, heldout_settings, run_data


def write_rows(path: Path, rows: list[tuple[str, str]], split: list[str] | None = None) -> str:
    header = "prompt,reference" + (",split" if split else "")
    lines = [f"{p},{r}" + (f",{split[i]}" if split else "") for i, (p, r) in enumerate(rows)]
    path.write_text("\n".join([header, *lines]) + "\n", encoding="utf-8")
    return str(path)


ROWS = [(f"question {i}", f"answer {i}") for i in range(200)]


def test_with_a_split_column_the_eval_split_is_held_out_and_never_trains():
    config = RunConfig(dataset=DEMO_DATASET, eval_steps=2, eval_prompts=5, max_prompts=4)
    data = run_data(config)
    assert len(data.training.examples) == 4 and {e.split for e in data.training.examples} == {"train"}
    assert len(data.heldout) == 5 and {e.split for e in data.heldout} == {"test"}
    every_train = run_data(RunConfig(dataset=DEMO_DATASET, eval_steps=2, eval_prompts=10_000)).training.examples
    trained = {(e.prompt, e.reference) for e in every_train}
    assert trained.isdisjoint((e.prompt, e.reference) for e in data.heldout)
    # Fixed order: the first eval_prompts held-out rows, the same at every call.
    assert run_data(config).heldout == data.heldout
    assert [int(e.id.split()[1]) for e in data.heldout] == sorted(int(e.id.split()[1]) for e in data.heldout)


def test_an_eval_split_no_row_has_is_refused_naming_the_field_the_column_and_the_splits(tmp_path):
    path = write_rows(tmp_path / "d.csv", ROWS[:4], ["train", "train", "dev", "train"])
    with pytest.raises(DataError) as caught:
        run_data(RunConfig(dataset=path, eval_steps=2, eval_split="test"))
    message = str(caught.value)
    assert "eval_split 'test'" in message and "'split' column" in message and "'dev'" in message


def test_without_a_split_column_a_seeded_fraction_is_held_out_whatever_the_run_seed(tmp_path):
    path = write_rows(tmp_path / "d.csv", ROWS)
    first = run_data(RunConfig(dataset=path, eval_steps=2, eval_prompts=1000, heldout_fraction=0.2, seed=1))
    other_seed = run_data(RunConfig(dataset=path, eval_steps=2, eval_prompts=1000, heldout_fraction=0.2, seed=7))
    assert first.heldout == other_seed.heldout  # the run's seed does not move the held-out rows
    assert 20 <= len(first.heldout) <= 60  # about 40 of 200
    trained = {e.prompt for e in first.training.examples}
    assert trained.isdisjoint(e.prompt for e in first.heldout)
    assert len(trained) + len(first.heldout) == len(ROWS)
    moved = run_data(RunConfig(dataset=path, eval_steps=2, eval_prompts=1000, heldout_fraction=0.2, heldout_seed=3))
    assert moved.heldout != first.heldout  # heldout_seed chooses another set
    # Reordered data holds out the same rows: content decides, not position.
    reordered = write_rows(tmp_path / "r.csv", ROWS[::-1])
    again = run_data(RunConfig(dataset=reordered, eval_steps=2, eval_prompts=1000, heldout_fraction=0.2))
    assert {e.prompt for e in again.heldout} == {e.prompt for e in first.heldout}


def test_a_copy_of_a_held_out_row_is_held_out_too(tmp_path):
    held = next(r for r in ROWS if held_out_row(r))
    path = write_rows(tmp_path / "d.csv", [*ROWS, held])
    data = run_data(RunConfig(dataset=path, eval_steps=2, eval_prompts=1000, heldout_fraction=0.2))
    assert held[0] not in {e.prompt for e in data.training.examples}
    assert [e.prompt for e in data.heldout].count(held[0]) == 2


def held_out_row(row: tuple[str, str]) -> bool:
    from training.data import Example

    return held_out(Example("row 1", row[0], row[1], None), 0.2, 0)


def test_max_prompts_limits_training_only_and_eval_prompts_the_held_out_ones(tmp_path):
    path = write_rows(tmp_path / "d.csv", ROWS)
    data = run_data(RunConfig(dataset=path, eval_steps=2, eval_prompts=3, max_prompts=5, heldout_fraction=0.2))
    assert len(data.training.examples) == 5 and data.training.truncated > 100
    assert len(data.heldout) == 3


def test_without_evaluation_every_row_trains(tmp_path):
    path = write_rows(tmp_path / "d.csv", ROWS)
    data = run_data(RunConfig(dataset=path, heldout_fraction=0.5))
    assert len(data.training.examples) == len(ROWS) and data.heldout == ()


def test_a_fraction_that_holds_out_nothing_is_refused_with_the_fix(tmp_path):
    path = write_rows(tmp_path / "d.csv", ROWS[:2])
    with pytest.raises(DataError, match="holds out none of the 2 usable rows.*raise heldout_fraction"):
        run_data(RunConfig(dataset=path, eval_steps=2, heldout_fraction=0.01))


def test_the_stored_settings_name_the_judge_and_the_sampling():
    settings = heldout_settings(RunConfig(eval_steps=4, eval_samples=3, temperature=0.5))
    assert settings["judge"] == "base" and settings["eval_samples"] == 3 and settings["temperature"] == 0.5
