"""Evaluation results in the dashboard: the metrics table and the answers grid (queueing: test_queue.py)."""

from nover_ui.eval_view import NO_ANSWER, answers_grid, metrics_frame, no_answer_note
from nover_ui.format_guidance import WHAT_TO_TRY
from nover_ui.safe_text import markdown_text
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


def test_metrics_table_names_models_data_and_runs_and_counts_in_whole_numbers(store):
    run = store.create_run("econ", {"model": "/home/u/models/Tiny-Model/"})
    base = finished(
        store,
        model="org/Tiny-Model",
        metrics={"format_valid_rate": 0.25, "samples": 4.0, "mean_reference_perplexity": None},
    )
    step_2 = store.queue_evaluation(
        "evaluation", "/home/u/models/Tiny-Model/", "/home/u/uploads/3f9a.csv", {}, run_id=run.id, checkpoint_step=2
    )
    frame = metrics_frame([base, step_2], {run.id: "econ"}, {"/home/u/uploads/3f9a.csv": "econ mcq.csv"})
    assert list(frame["#"]) == [str(step_2.id), str(base.id)]  # newest first
    assert list(frame["run"]) == [f"#{run.id} econ", "–"] and list(frame["model"]) == [
        "run 1 · step 2",
        "base Tiny-Model",
    ]
    assert list(frame["data"]) == ["econ mcq.csv", "builtin:demo"]
    # A count is whole; a metric the evaluation has not got is a dash; a job still queued has none yet.
    assert frame.iloc[1][["samples", "format-valid", "ref. perplexity", "split"]].tolist() == [
        "4",
        "0.250",
        "–",
        "test",
    ]
    assert frame.iloc[0][["status", "samples", "note"]].tolist() == ["queued", "", ""]


def test_a_finished_evaluation_without_a_valid_answer_says_why_instead_of_blank_cells(store):
    some = finished(store, metrics={"format_valid_rate": 0.5, "samples": 8.0, "mean_answer_chars": 12.0})
    none = finished(store, model="org/Tiny*Model_", metrics={"format_valid_rate": 0.0, "samples": 8.0})
    frame = metrics_frame([some, none]).set_index("#")
    unscored = frame.loc[str(none.id)]
    assert unscored[["format-valid", "ref. perplexity", "accuracy", "answer chars"]].tolist() == [
        "0.000",
        *[NO_ANSWER] * 3,
    ]
    assert unscored["note"] == "0 of 8 format-valid: no answer was scored"
    assert frame.loc[str(some.id)][["answer chars", "note"]].tolist() == ["12.0", ""]
    note = no_answer_note([some, none])
    assert f"**#{none.id} {markdown_text('base Tiny*Model_')}: 0 of 8 format-valid: no answer was scored**" in note
    assert f"#{some.id} " not in note and note.endswith(WHAT_TO_TRY)
    assert no_answer_note([some]) == ""
