"""The Experiments view on a real SQLite store: variants, mean ± Student-t interval of final and best held-out
metrics over seeds, the diff of config fields, and the overlaid curves."""

import dataclasses
import math

import pytest

from nover_ui.experiment_curves import curve_figures, variant_colour
from nover_ui.experiment_view import EVAL_METRICS, diff_table, results_table, variants
from nover_ui.seed_stats import seed_interval
from tests.experiment_data import store_experiment

T_975_1 = 12.706204736174659


@pytest.fixture
def stored(store):
    stored = store_experiment(store)
    runs = store.experiment_runs(stored.experiment.id)
    series = {run.id: store.get_metrics(run.id, keys=list(EVAL_METRICS)) for run in runs}
    return stored, runs, series


def test_runs_that_differ_only_in_seed_form_one_variant(stored):
    stored, runs, _ = stored
    groups = variants(runs)
    assert [g.label for g in groups] == ["reward=nover", "reward=rlpr"]
    assert [[run.config["seed"] for run in g.runs] for g in groups] == [[1, 2], [1, 2]]


def test_final_and_best_are_means_over_seeds_with_a_student_t_interval(stored):
    stored, runs, series = stored
    table = results_table(runs, series).set_index("variant")
    assert list(table.columns) == [
        "runs",
        "eval/format_valid final",
        "eval/format_valid best",
        "eval/perplexity final",
        "eval/perplexity best",
        "eval/answer_length final",  # a length has no best
    ]
    nover = table.loc["reward=nover"]
    # finals 0.75 and 0.5: mean 0.625, s = 0.1768, half-width t(0.975; 1) * s / sqrt(2) = 12.706 * 0.125
    assert nover["eval/format_valid final"] == "0.625 ± 1.59 (n=2)"
    assert math.isclose(seed_interval([0.75, 0.5]).half_width, T_975_1 * 0.125, rel_tol=1e-12)
    assert nover["eval/format_valid best"] == "0.75 ± 0 (n=2)"  # both seeds peaked at 0.75
    assert nover["eval/perplexity final"] == "2.5 ± 6.35 (n=2)"  # finals 2 and 3
    assert nover["eval/perplexity best"] == "2.25 ± 3.18 (n=2)"  # the lowest: 2 and 2.5
    assert nover["eval/answer_length final"] == "12 ± 25.4 (n=2)"
    # rlpr seed 1 is still running: its latest evaluation so far counts, and the row says it is running.
    rlpr = table.loc["reward=rlpr"]
    assert rlpr["eval/format_valid final"] == seed_interval([0.375, 0.625]).text() == "0.5 ± 1.59 (n=2)"
    assert rlpr["eval/perplexity best"] == "3.25 ± 3.18 (n=2)"  # the lowest so far: 3.5 and 3
    one, two = stored.runs[("rlpr", 1)].id, stored.runs[("rlpr", 2)].id
    assert rlpr["runs"] == f"#{one} seed 1 running (step 2/4) · #{two} seed 2 succeeded"


def test_a_variant_with_one_seed_shows_its_mean_and_says_it_has_no_interval(stored):
    stored, runs, series = stored
    only_one = [run for run in runs if run.id != stored.runs[("nover", 2)].id]
    table = results_table(only_one, series).set_index("variant")
    assert table.loc["reward=nover", "eval/format_valid final"] == "0.75 (n=1, no interval)"


def test_the_diff_lists_the_fields_that_differ_with_seed_last(stored):
    stored, runs, _ = stored
    diff = diff_table(runs)
    assert list(diff.columns) == ["field"] + [f"#{run.id} {run.name}" for run in runs]
    assert diff.values.tolist() == [["reward", "nover", "nover", "rlpr", "rlpr"], ["seed", "1", "2", "1", "2"]]
    same = diff_table(runs[:1])
    assert same.values.tolist() == [["(every field is the same in every run)", ""]]


def test_curves_overlay_every_run_in_its_variants_colour_with_escaped_labels(stored):
    stored, runs, series = stored
    figures = dict(curve_figures(variants(runs), series))
    assert list(figures) == ["eval/format_valid", "eval/perplexity", "eval/answer_length"]
    traces = figures["eval/format_valid"].data
    assert [trace.line.color for trace in traces] == [variant_colour(0)] * 2 + [variant_colour(1)] * 2
    assert [trace.line.dash for trace in traces] == ["solid", "dash"] * 2
    assert [list(trace.x) for trace in traces] == [[0, 2, 4], [0, 2, 4], [0, 2], [0, 2, 4]]
    assert traces[0].name == f"reward=nover · #{runs[0].id} seed 1"
    assert figures["eval/perplexity"].layout.title.text == "eval/perplexity (lower is better)"
    # A config value is untrusted text: it reaches the legend as entities, never as markup.
    hostile = [dataclasses.replace(runs[0], config={**runs[0].config, "reward": "<b>x</b>"}), *runs[1:]]
    names = [trace.name for trace in dict(curve_figures(variants(hostile), series))["eval/format_valid"].data]
    assert names[0] == f"reward=&lt;b&gt;x&lt;/b&gt; · #{runs[0].id} seed 1"
