"""Evaluation results in the dashboard: the metrics table and the answers grid (queueing: test_queue.py)."""

from nover_ui.eval_view import answers_grid, metrics_frame, model_label
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
