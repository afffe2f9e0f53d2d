"""Which keys go in the Metrics header, in group charts and in the folded flat list; held-out series from jobs."""

import math

from nover_ui.metric_layout import FlatKey, flat_markdown, held_out_series, layout_keys
from storage import MetricSeries


def series(key, values):
    steps = tuple(range(1, len(values) + 1))
    return MetricSeries(key, steps, tuple(values), tuple(1_700_000_000.0 + s for s in steps))


def test_key_curves_lead_the_header_in_their_order_and_held_out_metrics_have_their_own_chart():
    run = {
        key: series(key, [1.0, 2.0])
        for key in ("loss", "completions/mean_length", "eval/accuracy", "reward", "held-out/format_valid_rate")
    }
    run["rewards/format/mean"] = series("rewards/format/mean", [0.0, 0.0])  # flat, yet a key curve
    layout = layout_keys({1: run})
    assert layout.header == (
        "reward",
        "rewards/format/mean",
        "completions/mean_length",
    )
    assert layout.evaluation == ("eval/accuracy", "held-out/format_valid_rate")
    assert layout.body == ("loss",) and layout.flat == ()


def test_flat_means_one_value_across_every_selected_run_and_empty_means_no_finite_point():
    metrics = {
        1: {
            "learning_rate": series("learning_rate", [1e-5] * 3),
            "kl": series("kl", [0.0, 0.0]),
            "clip_ratio/low_mean": series("clip_ratio/low_mean", [0.0, math.nan, 0.0]),
            "data/skipped_rows": series("data/skipped_rows", []),
            "entropy": series("entropy", [math.nan, math.inf]),
            "rewards/reasoning/std": series("rewards/reasoning/std", [0.39188191294670105, 0.39188194274902344]),
        },
        2: {"learning_rate": series("learning_rate", [1e-5]), "kl": series("kl", [0.5, 0.5])},
    }
    layout = layout_keys(metrics)
    assert layout.body == ("kl",)  # each run flat, at different values: the runs differ, so it is drawn
    assert layout.flat == (
        FlatKey("clip_ratio/low_mean", 0.0),
        FlatKey("data/skipped_rows", None),
        FlatKey("entropy", None),
        FlatKey("learning_rate", 1e-5),
        FlatKey("rewards/reasoning/std", 0.39188191294670105),  # float32 rounding apart, as TRL logged it
    )
    assert layout_keys({}) == layout_keys({1: {}})


def test_the_flat_list_says_each_value_and_shows_keys_as_text():
    text = flat_markdown([FlatKey("learning_rate", 1e-5), FlatKey("kl", 0.0), FlatKey("*x*<b>", None)])
    assert "learning\\_rate = 1e-05 at every point" in text
    assert "kl = 0 at every point" in text
    assert "\\*x\\*\\<b\\> has no points" in text


def finished(store, run_id, step, metrics, kind="evaluation"):
    job = store.queue_evaluation(kind, "m", "builtin:demo", {}, run_id=run_id, checkpoint_step=step)
    assert store.claim_next_evaluation("w").id == job.id
    return store.finish_evaluation(job.id, "succeeded", metrics)


def test_held_out_series_take_each_checkpoints_newest_evaluation(store):
    run = store.create_run("r", {})
    for step in (4, 8):
        store.add_checkpoint(run.id, step, f"/c{step}")
    finished(store, run.id, 8, {"format_valid_rate": 0.75, "mean_reference_perplexity": 3.0})
    finished(store, run.id, 4, {"format_valid_rate": 0.25, "mean_reference_perplexity": None})
    finished(store, run.id, 8, {"format_valid_rate": 0.5, "verifier_accuracy": math.nan})
    finished(store, run.id, 4, {"format_valid_rate": 1.0}, kind="playground")
    finished(store, None, None, {"format_valid_rate": 0.0})  # the base model: no step to draw it at
    held_out = held_out_series(store.list_evaluations())
    assert set(held_out) == {"held-out/format_valid_rate"}
    rate = held_out["held-out/format_valid_rate"]
    assert (rate.steps, rate.values) == ((4, 8), (0.25, 0.5))
    assert all(abs(wall - store.list_evaluations()[0].finished_at.timestamp()) < 60 for wall in rate.wall_times)
