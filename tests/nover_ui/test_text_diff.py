import random

import pytest

from nover_ui.text_diff import DIFF_CSS, render_diff, word_diff
from tests.helpers import parsed

OPS = {"equal", "delete", "insert"}


def old_side(pieces):
    return "".join(text for op, text in pieces if op in ("equal", "delete"))


def new_side(pieces):
    return "".join(text for op, text in pieces if op in ("equal", "insert"))


def test_identical_texts_are_one_equal_piece():
    assert word_diff("the cat sat", "the cat sat") == [("equal", "the cat sat")]
    assert word_diff("", "") == []


def test_pure_insert_and_pure_delete():
    assert word_diff("the cat", "the black cat") == [("equal", "the "), ("insert", "black "), ("equal", "cat")]
    assert word_diff("the black cat", "the cat") == [("equal", "the "), ("delete", "black "), ("equal", "cat")]
    assert word_diff("", "new text") == [("insert", "new text")]
    assert word_diff("old text", "") == [("delete", "old text")]


def test_replace_in_the_middle_is_a_delete_then_an_insert():
    assert word_diff("so the answer is 4 today", "so the answer is 5 today") == [
        ("equal", "so the answer is "),
        ("delete", "4"),
        ("insert", "5"),
        ("equal", " today"),
    ]


def test_a_fully_different_text_is_one_replacement_not_words_stitched_by_spaces():
    assert word_diff("a b c", "x y z") == [("delete", "a b c"), ("insert", "x y z")]


def test_whitespace_changes_are_kept_and_shown():
    pieces = word_diff("a b\nc", "a  b\n\nc")
    assert old_side(pieces) == "a b\nc" and new_side(pieces) == "a  b\n\nc"
    assert ("delete", " ") in pieces and ("insert", "  ") in pieces
    assert ("delete", "\n") in pieces and ("insert", "\n\n") in pieces


HANDCRAFTED = [
    ("", "x"),
    ("  leading", "leading  "),
    ("tabs\tand\nnewlines\r\n", "tabs and\nnewlines"),
    ("<think>2+2</think><answer>4</answer>", "<think> 2 + 2 </think>\n<answer>5</answer>"),
    ("the the the the", "the the"),
    ("ünïcödé wörds ✓", "ünïcödé ✗ wörds"),
]


@pytest.mark.parametrize("old, new", HANDCRAFTED)
def test_round_trip_on_handcrafted_texts(old, new):
    pieces = word_diff(old, new)
    assert old_side(pieces) == old and new_side(pieces) == new
    assert all(op in OPS and text for op, text in pieces)
    assert all(a[0] != b[0] for a, b in zip(pieces, pieces[1:])), "adjacent pieces of one op are merged"


def test_round_trip_on_random_texts():
    rng = random.Random(7)
    words = ["a", "b", "cat", "<", "&", "x\u00e9", " ", "  ", "\n", "\t"]
    for _ in range(300):
        old = "".join(rng.choice(words) for _ in range(rng.randrange(0, 25)))
        new = "".join(rng.choice(words) for _ in range(rng.randrange(0, 25)))
        pieces = word_diff(old, new)
        assert old_side(pieces) == old and new_side(pieces) == new, (old, new)
        assert all(op in OPS and text for op, text in pieces)


def test_render_marks_deletions_on_the_old_side_and_insertions_on_the_new_side():
    old_html, new_html = render_diff("the cat sat", "the dog sat")
    assert old_html == '<div class="nover-diff">the <del>cat</del> sat</div>'
    assert new_html == '<div class="nover-diff">the <ins>dog</ins> sat</div>'


def test_render_escapes_every_text_in_both_sides():
    script, img = "<script>alert(1)</script>", '<img src=x onerror="alert(1)">'
    old_html, new_html = render_diff(f"keep {script} & {img}", f"keep {img} & <b>bold</b> {script}")
    for markup, expected_text in (
        (old_html, f"keep {script} & {img}"),
        (new_html, f"keep {img} & <b>bold</b> {script}"),
    ):
        page = parsed(markup)
        assert {tag for tag, _ in page.tags} <= {"div", "span", "del", "ins"}
        assert [attrs for tag, attrs in page.tags if attrs] == [{"class": "nover-diff"}]
        assert "".join(page.text) == expected_text
        assert "<script" not in markup and "<img" not in markup
    assert "<del>" in old_html and "<ins>" not in old_html
    assert "<ins>" in new_html and "<del>" not in new_html


def test_css_is_scoped_and_keeps_whitespace():
    rules = [line for line in DIFF_CSS.strip().splitlines() if line.strip()]
    assert rules and all(line.startswith(".nover-diff") for line in rules)
    assert "white-space: pre-wrap" in DIFF_CSS
    assert "del" in DIFF_CSS and "ins" in DIFF_CSS
