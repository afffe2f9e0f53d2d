import math
import re

import numpy as np
import pytest

from nover_ui.token_gain import (
    FULL_COLOUR_GAIN,
    MAX_ALPHA,
    NEUTRAL_GAIN,
    TOKEN_CSS,
    gain_colour,
    gain_summary,
    render_token_gains,
    token_gains,
)
from tests.helpers import parsed

RGBA = re.compile(r"^rgba\((\d+),(\d+),(\d+),(\d\.\d{3})\)$")


def token_spans(markup: str) -> list[dict[str, str | None]]:
    """Attributes of the token spans (those with a title; the legend's colour samples have none)."""
    return [attrs for tag, attrs in parsed(markup).tags if tag == "span" and "title" in attrs]


def rgba(colour: str) -> tuple[int, int, int, float]:
    match = RGBA.match(colour)
    assert match, colour
    return int(match[1]), int(match[2]), int(match[3]), float(match[4])


def render(tokens, target, baseline):
    return render_token_gains(tokens, token_gains(target, baseline), target, baseline)


def test_gain_is_baseline_minus_target_nll():
    gains = token_gains([0.4, 2.0, 1.0, 3.0], [1.6, 2.0, 0.5, 0.0])
    assert gains == pytest.approx([1.2, 0.0, -0.5, -3.0])
    assert gains[0] > 0 and gains[2] < 0, "positive = the reasoning made the token more likely"
    assert token_gains([], []) == []


def test_length_mismatch_names_both_lengths():
    with pytest.raises(ValueError, match="got 3 and 2"):
        token_gains([0.1, 0.2, 0.3], [0.1, 0.2])


def test_non_finite_or_missing_entries_give_nan_and_leave_the_rest_alone():
    gains = token_gains([0.5, math.nan, 1.0, math.inf, None], [1.0, 1.0, -math.inf, 2.0, 1.0])
    assert gains[0] == pytest.approx(0.5)
    assert all(math.isnan(g) for g in gains[1:])


def test_numpy_inputs_are_accepted():
    gains = token_gains(np.array([0.5, 1.0], dtype=np.float32), np.array([1.5, 1.0], dtype=np.float32))
    assert gains == pytest.approx([1.0, 0.0]) and all(type(g) is float for g in gains)


def test_summary_counts_helped_and_hurt_beyond_the_neutral_band():
    gains = [1.2, NEUTRAL_GAIN, NEUTRAL_GAIN + 0.01, 0.0, -NEUTRAL_GAIN, -0.3, -2.0, math.nan]
    summary = gain_summary(gains)
    assert summary["tokens"] == 8
    assert summary["helped"] == 2 and summary["hurt"] == 2
    finite = gains[:-1]
    assert summary["total_gain"] == pytest.approx(sum(finite))
    assert summary["mean_gain"] == pytest.approx(sum(finite) / len(finite))


def test_summary_of_no_finite_gain():
    summary = gain_summary([math.nan])
    assert summary["tokens"] == 1 and summary["total_gain"] == 0 and math.isnan(summary["mean_gain"])
    assert summary["helped"] == summary["hurt"] == 0


def test_colour_is_green_for_gain_red_for_loss_and_clear_near_zero():
    red, green, blue, alpha = rgba(gain_colour(1.0))
    assert green > red and alpha > 0
    red, green, blue, alpha = rgba(gain_colour(-1.0))
    assert red > green and alpha > 0
    for neutral in (0.0, NEUTRAL_GAIN, -NEUTRAL_GAIN / 2, math.nan, math.inf):
        assert rgba(gain_colour(neutral))[3] == 0.0


def test_colour_intensity_grows_with_the_gain_and_is_capped():
    alphas = [rgba(gain_colour(g))[3] for g in (0.2, 1.0, FULL_COLOUR_GAIN, FULL_COLOUR_GAIN * 10)]
    assert alphas[0] < alphas[1] < alphas[2] == alphas[3] == pytest.approx(MAX_ALPHA, abs=1e-3)
    assert rgba(gain_colour(-1.0))[3] == rgba(gain_colour(1.0))[3] == pytest.approx(MAX_ALPHA / 2, abs=1e-3)


def test_each_token_is_a_coloured_span_with_a_hover_title():
    markup = render([" Paris", " is", "!"], [0.41, 1.0, 0.5], [1.64, 1.0, 0.1])
    spans = token_spans(markup)
    assert [span["class"] for span in spans] == ["tok", "tok", "tok"]
    assert spans[0]["title"] == "token ' Paris' · gain +1.23 nats · log p with reasoning -0.41 · without -1.64"
    colours = [rgba(span["style"].removeprefix("background-color: ")) for span in spans]
    assert colours[0][1] > colours[0][0] and colours[1][3] == 0.0 and colours[2][0] > colours[2][1]
    assert " Paris is!" in "".join(parsed(markup).text)
    assert markup.startswith('<div class="nover-tokens">') and 'class="legend"' in markup


def test_token_text_is_escaped_and_kept_exactly():
    tokens = ["<img onerror=x>", "\n", "", "a&b", "<script>alert(1)</script>"]
    markup = render(tokens, [1.0] * 5, [1.0] * 5)
    page = parsed(markup)
    assert {tag for tag, _ in page.tags} <= {"div", "span", "p"}
    assert "<img" not in markup and "<script" not in markup
    for _, attrs in page.tags:
        assert not [name for name in attrs if name.startswith("on")]
        assert set(attrs) <= {"class", "style", "title"}
    assert "".join(page.text).endswith("".join(tokens))
    assert [span["class"] for span in token_spans(markup)][2] == "tok empty"


def test_title_with_a_double_quote_stays_inside_its_attribute():
    markup = render(['say "hi" onmouseover=alert(1)'], [0.2], [0.3])
    spans = token_spans(markup)
    assert len(spans) == 1
    assert set(spans[0]) == {"class", "style", "title"}
    assert spans[0]["title"].startswith("token 'say \"hi\" onmouseover=alert(1)' · gain")
    assert '"hi"' not in markup


def test_style_comes_only_from_numbers():
    markup = render(["red); background-image: url(x"], [0.3], [0.2])
    styles = [attrs["style"] for _, attrs in parsed(markup).tags if "style" in attrs]
    assert styles and all(RGBA.match(style.removeprefix("background-color: ")) for style in styles)


def test_nan_gain_is_shown_as_unknown():
    markup = render(["x"], [None], [1.0])
    span = token_spans(markup)[0]
    assert span["class"] == "tok unknown" and rgba(span["style"].removeprefix("background-color: "))[3] == 0
    assert span["title"] == "token 'x' · gain – · log p with reasoning – · without -1.00"


def test_render_rejects_sequences_of_different_lengths_and_handles_no_tokens():
    with pytest.raises(ValueError, match="2, 1, 2, 2"):
        render_token_gains(["a", "b"], [0.1], [0.1, 0.2], [0.1, 0.2])
    markup = render_token_gains([], [], [], [])
    assert "no reference tokens" in markup and 'class="tok"' not in markup


def test_css_is_scoped_and_keeps_whitespace():
    rules = [line for line in TOKEN_CSS.strip().splitlines() if line.strip()]
    assert rules and all(line.startswith(".nover-tokens") for line in rules)
    assert "white-space: pre-wrap" in TOKEN_CSS
