from nover_ui.compare_view import history_figure, render_comparison, token_view
from nover_ui.prompt_text import question_line
from nover_ui.traces_tab import filter_for_metric
from storage import PromptStep
from tests.nover_ui.test_traces_view import invalid, rollout


def test_comparison_shows_the_reasoning_diff_and_the_changes():
    a = rollout(sample=0, reasoning="add 2 and 3", reward=1.0, perplexity=2.0, reasoning_tokens=4)
    b = rollout(sample=1, reasoning="add 2 and 3 to get 5", reward=2.5, perplexity=1.5, reasoning_tokens=7)
    page = render_comparison(a, b, "step 1 · #0", "step 9 · #1")
    assert "Δ reward +1.500 · Δ perplexity -0.50 · Δ reasoning tokens +3" in page
    assert "<ins> to get 5</ins>" in page and "<del>" not in page
    assert "step 1 · #0 · format-valid" in page and "step 9 · #1 · format-valid" in page


def test_comparison_escapes_model_text():
    a = rollout(reasoning="<script>x()</script>", answer="<img src=x onerror=y()>")
    b = invalid(completion="<b>bold</b>")
    page = render_comparison(a, b, "<i>left</i>", "right")
    assert "<script" not in page and "<img" not in page and "<b>" not in page and "<i>" not in page
    assert "&lt;script&gt;" in page and "&lt;img src=x onerror=y()&gt;" in page


def test_token_view_colours_the_reference_by_the_reasonings_gain():
    scored = rollout(extras={"target_nll": [0.5, 2.0], "baseline_nll": [1.5, 1.0], "target_tokens": ["Par", "is"]})
    page = token_view(scored)
    assert "rgba(46,158,91" in page and "rgba(214,69,65" in page  # +1.0 gain green, -1.0 loss red
    assert ">Par<" in page and ">is<" in page
    old_run = rollout(extras={"target_nll": [0.5], "baseline_nll": [0.4]})  # stored before token strings were
    assert ">t0<" in token_view(old_run)
    assert "not format-valid" in token_view(invalid())


def test_history_figure_has_reward_and_length_per_run():
    history = [PromptStep(1, 8, 3, 2.0, 1.0, 12.0), PromptStep(2, 8, 5, 2.5, 1.5, None)]
    figure = history_figure([("#1", history), ("#2", history[:1])])
    assert [trace.name for trace in figure.data] == [
        "#1 best reward",
        "#1 mean reward",
        "#1 mean reasoning tokens",
        "#2 best reward",
        "#2 mean reward",
        "#2 mean reasoning tokens",
    ]
    assert list(figure.data[0].y) == [2.0, 2.5] and figure.data[2].yaxis == "y2"
    assert (figure.layout.xaxis.tickformat, figure.layout.xaxis.dtick) == ("d", 1)  # whole steps: 1, 2
    long = history_figure([("#1", [PromptStep(step, 8, 3, 2.0, 1.0, 12.0) for step in (1, 50, 400)])])
    assert (long.layout.xaxis.tickformat, long.layout.xaxis.dtick) == ("d", None)  # plotly spaces them, as integers


def test_metric_keys_open_traces_with_the_matching_filter():
    assert filter_for_metric("flags/repetition") == "repetition"
    assert filter_for_metric("flags/missing_tags") == "missing tags"
    assert filter_for_metric("flags/truncated") == "truncated"
    assert filter_for_metric("flags/all_invalid") == "format failures"
    assert filter_for_metric("flags/groups_with_zero_reward_variance") == "all"
    assert filter_for_metric("reward") == "all"


def test_a_prompt_label_is_its_question_line():
    templated = (
        "<|im_start|>system\nYou are helpful.<|im_end|>\n<|im_start|>user\nWhat is 2+2?\n\nAnswer in "
        "format.<|im_end|>\n<|im_start|>assistant\n<think>\n"
    )
    assert question_line(templated) == "What is 2+2? Answer in format."
    assert question_line("plain " * 40).endswith("…")


def test_history_legend_shows_a_run_name_as_text():
    figure = history_figure([("<a href='https://evil.example'>run</a>", [PromptStep(1, 8, 3, 2.0, 1.0, 12.0)])])
    assert {trace.name.split(" ")[0] for trace in figure.data} == {"&lt;a"}
