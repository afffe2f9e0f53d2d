"""Word-level diff of two texts, as data and as a pair of HTML panes (old with deletions, new with insertions).

Pure helpers. Texts are untrusted: every piece passes through `html_text` (nover_ui/safe_text.py), and the only
markup is the constant `<div class="nover-diff">`, `<del>` and `<ins>` below, with no attributes built from data.
"""

from __future__ import annotations

import re
from difflib import SequenceMatcher

from nover_ui.safe_text import html_text

EQUAL, DELETE, INSERT = "equal", "delete", "insert"

DIFF_CSS = """
.nover-diff { white-space: pre-wrap; overflow-wrap: anywhere; font-size: 14px; line-height: 1.4; }
.nover-diff del { background: #d6454140; text-decoration: line-through; border-radius: 2px; }
.nover-diff ins { background: #2e9e5b40; text-decoration: none; border-radius: 2px; }
"""

_TOKEN = re.compile(r"\s+|[^\s]+")


def word_diff(old: str, new: str) -> list[tuple[str, str]]:
    """Diff two texts word by word into (op, text) pieces, op one of "equal", "delete", "insert".

    Words and the whitespace runs between them are the units, and nothing is dropped: joining the "equal" and
    "delete" pieces gives `old` back exactly, joining "equal" and "insert" gives `new`. A replaced span comes out
    as its deletion followed by its insertion; adjacent pieces of the same op are merged.

    >>> word_diff("the cat sat", "the dog sat")
    [('equal', 'the '), ('delete', 'cat'), ('insert', 'dog'), ('equal', ' sat')]
    >>> word_diff("a b", "a  b c")
    [('equal', 'a'), ('delete', ' '), ('insert', '  '), ('equal', 'b'), ('insert', ' c')]
    """
    old_tokens, new_tokens = _TOKEN.findall(old), _TOKEN.findall(new)
    # Whitespace is "junk": it may extend a match but never anchor one, so "a b c" -> "x y z" is one replacement
    # rather than three replacements stitched together by matching spaces. autojunk off: long texts repeat
    # common words, and the popularity heuristic would then refuse to match them.
    matcher = SequenceMatcher(str.isspace, old_tokens, new_tokens, autojunk=False)
    pieces: list[tuple[str, str]] = []
    for op, old_start, old_end, new_start, new_end in matcher.get_opcodes():
        if op == "equal":
            _append(pieces, EQUAL, "".join(old_tokens[old_start:old_end]))
            continue
        if op in ("delete", "replace"):
            _append(pieces, DELETE, "".join(old_tokens[old_start:old_end]))
        if op in ("insert", "replace"):
            _append(pieces, INSERT, "".join(new_tokens[new_start:new_end]))
    return pieces


def render_diff(old: str, new: str) -> tuple[str, str]:
    """(old_html, new_html): the old text with its deletions in <del>, the new text with its insertions in <ins>,
    each wrapped in <div class="nover-diff"> (style with DIFF_CSS; whitespace is kept, pre-wrap).

    >>> render_diff("x < y", "x > y")
    ('<div class="nover-diff">x <del>&lt;</del> y</div>', '<div class="nover-diff">x <ins>&gt;</ins> y</div>')
    """
    pieces = word_diff(old, new)
    return _side(pieces, DELETE, "del"), _side(pieces, INSERT, "ins")


def _append(pieces: list[tuple[str, str]], op: str, text: str) -> None:
    if not text:
        return
    if pieces and pieces[-1][0] == op:
        pieces[-1] = (op, pieces[-1][1] + text)
    else:
        pieces.append((op, text))


def _side(pieces: list[tuple[str, str]], changed_op: str, tag: str) -> str:
    parts = []
    for op, text in pieces:
        if op == EQUAL:
            parts.append(html_text(text))
        elif op == changed_op:
            parts.append(f"<{tag}>{html_text(text)}</{tag}>")
    return f'<div class="nover-diff">{"".join(parts)}</div>'
