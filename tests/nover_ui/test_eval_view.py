"""Evaluation results in the dashboard: the metrics table, the answers grid, queueing evaluations."""

import pytest

from nover_ui.eval_view import answers_grid, metrics_frame, model_label
from nover_ui.evaluate_tab import queue_evaluations
from nover_ui.places import PlaceRefused, Places
from nover_ui.playground_tab import queue_playground
from tests.helpers import parsed


def sample(prompt: str, completion: str, answer: str | None, perplexity: float | None = None, correct=None) -> dict:
    return dict(
        prompt=prompt,
        reference="4",
        completion=completion,
        reasoning=completion.split("</think>")[0],
        answer=answer,
        format_valid=answer is not None,
        perplexity=perplexity,
        correct=correct,
        extras={"seed": 0},
    )


def finished(store, model="m", run_id=None, step=None, samples=(), metrics=None):
    job = store.queue_evaluation(
        "evaluation", model, "builtin:demo", {"split": "test"}, run_id=run_id, checkpoint_step=step
    )
    claimed = store.claim_next_evaluation("w")
    assert claimed.id == job.id
    store.log_evaluation_samples(job.id, [dict(row, sample_index=i) for i, row in enumerate(samples)])
    return store.finish_evaluation(job.id, "succeeded", metrics or {"format_valid_rate": 0.5, "samples": 2.0})


def test_two_checkpoints_side_by_side_with_a_word_diff(store):
    run = store.create_run("r", {"model": "org/Tiny-Model"})
    store.add_checkpoint(run.id, 4, "/c4")
    store.add_checkpoint(run.id, 8, "/c8")
    left = finished(
        store, run_id=run.id, step=4, samples=[sample("2+2?", "add</think><answer>5</answer>", "5", 3.0, False)]
    )
    right = finished(
        store,
        run_id=run.id,
        step=8,
        samples=[sample("2+2?", "add two and two</think><answer>4</answer>", "4", 2.0, True)],
    )
    grid = answers_grid([left, right], {e.id: store.get_evaluation_samples(e.id) for e in (left, right)})
    assert [tag for tag, _ in parsed(grid).tags].count("tr") == 2  # header + one prompt
    assert "run 1 · step 4" in grid and "run 1 · step 8" in grid and "word diff" in grid
    assert "<ins>add two and two&lt;/think&gt;" in grid and "Δ ppl -1.000 · Δ reasoning words +3" in grid
    assert "· wrong" in grid and "· correct" in grid


def test_metrics_table_has_one_row_per_evaluation_and_escapes_nothing_needed(store):
    base = finished(
        store,
        model="org/Tiny-Model",
        metrics={"format_valid_rate": 0.25, "samples": 4.0, "mean_reference_perplexity": None},
    )
    frame = metrics_frame([base])
    assert frame.iloc[0]["model"] == model_label(base) == "base Tiny-Model"
    assert (frame.iloc[0]["format-valid"], frame.iloc[0]["ref. perplexity"], frame.iloc[0]["split"]) == (
        "0.250",
        "",
        "test",
    )


def test_queue_evaluations_for_base_and_checkpoints_on_the_runs_data_or_a_file(store, tmp_path):
    run = store.create_run("r", {"model": "org/Tiny-Model", "dataset": "builtin:demo"})
    ids = queue_evaluations(store, run.id, [8, 4], True, "test", 8, 1, 0)
    jobs = [store.get_evaluation(i) for i in ids]
    assert [(j.run_id, j.checkpoint_step, j.dataset) for j in jobs] == [
        (None, None, "builtin:demo"),
        (run.id, 4, "builtin:demo"),
        (run.id, 8, "builtin:demo"),
    ]
    assert jobs[0].config["run_config"] == run.config and jobs[0].config["max_prompts"] == 8
    [other] = queue_evaluations(store, run.id, [], True, "test", 8, 1, 0, dataset=str(tmp_path / "held_out.csv"))
    assert store.get_evaluation(other).dataset == str(tmp_path / "held_out.csv")


def test_jobs_open_only_the_dashboards_places_and_their_numbers_are_bounded(store, tmp_path):
    places = Places(tmp_path / "home")
    # An imported run's config was never checked: its own data and model are checked when a job is queued.
    imported = store.create_run("imported", {"model": "org/m", "dataset": "/etc/creds.csv"})
    with pytest.raises(PlaceRefused, match="cannot read '/etc/creds.csv'"):
        queue_evaluations(store, imported.id, [], True, "test", 8, 1, 0, places=places)
    run = store.create_run("r", {"model": "org/m", "dataset": "builtin:demo"})
    with pytest.raises(PlaceRefused, match="cannot read"):
        queue_evaluations(store, run.id, [], True, "test", 8, 1, 0, dataset=str(tmp_path / "x.csv"), places=places)
    for prompts, samples, seed, message in [
        (1e30, 1, 0, "prompts must be from 1 to 10,000, got 1e\\+30"),
        (8, 65, 0, "samples per prompt must be from 1 to 64"),
        (8, 1, -1, "seed must be from 0"),
        (8, 1, 0.5, "whole number"),
    ]:
        with pytest.raises(ValueError, match=message):
            queue_evaluations(store, run.id, [], True, "test", prompts, samples, seed, places=places)
    local_model = store.create_run("local", {"model": "/root/model", "dataset": "builtin:demo"})
    with pytest.raises(PlaceRefused, match="cannot use model '/root/model'"):
        queue_playground(store, local_model.id, "Hi?", "", ["base"], 0, places)
    with pytest.raises(ValueError, match="the prompt has at most 20,000 characters"):
        queue_playground(store, run.id, "x" * 20_001, "", ["base"], 0, places)
    with pytest.raises(ValueError, match="seed must be from 0 to 4,294,967,295"):
        queue_playground(store, run.id, "Hi?", "", ["base"], 2**40, places)
    assert store.list_evaluations() == []
