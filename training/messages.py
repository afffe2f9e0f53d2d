"""Chat-style data: rows holding lists of {role, content} messages, read as a prompt and a reference.

The conventions are TRL's conversational dataset format (docs: "Dataset formats and types"): a message is a dict
with "role" ("system", "user", "assistant", ...) and "content" (text, or a list of typed parts of which the
{"type": "text", "text": ...} ones carry text); a `messages` column holds whole conversations, a `prompt` column the
turns before the answer, a `completion` column the assistant's answer. Here the last user turn is the prompt and
the last assistant turn the reference:

- a prompt column whose cell holds messages gives its last user turn;
- a reference column whose cell holds messages gives its last assistant turn;
- a `messages` column, when the named prompt and reference columns are both absent, gives both: the last
  assistant turn, and the last user turn before it (the question that turn answers).

Cells arrive as text (training/data_files.py writes a list cell of JSON Lines or Parquet as JSON text), so JSON
text of a message list in a CSV cell counts the same. Standard library only.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

MESSAGES_COLUMN = "messages"
USER, ASSISTANT = "user", "assistant"


def messages_column(columns: Sequence[str], prompt_column: str, reference_column: str) -> str | None:
    """The column of whole conversations to read both prompt and reference from: `messages` when it is there and
    neither named column is.

    >>> messages_column(("messages", "id"), "prompt", "reference")
    'messages'
    >>> messages_column(("messages", "prompt"), "prompt", "reference") is None
    True
    """
    if MESSAGES_COLUMN in columns and prompt_column not in columns and reference_column not in columns:
        return MESSAGES_COLUMN
    return None


def parse_messages(cell: str | None) -> list[dict[str, Any]] | None:
    """The message list a cell holds as JSON text, or None when it holds something else (plain text).

    >>> parse_messages('[{"role": "user", "content": "Hi?"}]')
    [{'role': 'user', 'content': 'Hi?'}]
    >>> parse_messages("[1, 2]") is None, parse_messages("What is [x]?") is None
    (True, True)
    """
    if not cell or not cell.lstrip().startswith("["):
        return None
    try:
        value = json.loads(cell)
    except (json.JSONDecodeError, RecursionError):
        return None
    if isinstance(value, list) and value and all(isinstance(m, dict) and "role" in m for m in value):
        return value
    return None


def turn_text(message: dict[str, Any]) -> str:
    """A message's text: its content, or the text parts of a multimodal content list joined by newlines.

    >>> turn_text({"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "What is shown?"}]})
    'What is shown?'
    """
    content = message.get("content")
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = [p.get("text") for p in content if isinstance(p, dict) and p.get("type") == "text"]
        return "\n".join(part for part in parts if isinstance(part, str))
    return ""


def cell_turn(cell: str | None, role: str) -> tuple[str, str | None]:
    """(text, None) of a prompt or reference cell: the cell itself when it is plain text, else the last `role`
    turn of its messages; ("", reason) when its messages have no such turn.

    >>> cell_turn("Plain question?", USER)
    ('Plain question?', None)
    >>> cell_turn('[{"role": "system", "content": "Be brief."}, {"role": "user", "content": "2+2?"}]', USER)
    ('2+2?', None)
    >>> cell_turn('[{"role": "user", "content": "2+2?"}]', ASSISTANT)
    ('', 'no assistant turn in the messages')
    """
    messages = parse_messages(cell)
    if messages is None:
        return cell or "", None
    turns = [m for m in messages if m.get("role") == role]
    if not turns:
        return "", f"no {role} turn in the messages"
    return turn_text(turns[-1]), None


def conversation_pair(cell: str | None) -> tuple[str, str, str | None]:
    """(prompt, reference, None) of a whole conversation: the last user turn before the last assistant turn, and
    that assistant turn; ("", "", reason) when the cell is not a message list or lacks either turn.

    >>> conversation_pair('[{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"},'
    ...                   ' {"role": "user", "content": "2+2?"}, {"role": "assistant", "content": "4"}]')
    ('2+2?', '4', None)
    >>> conversation_pair('[{"role": "user", "content": "2+2?"}]')
    ('', '', 'no assistant turn in the messages')
    """
    messages = parse_messages(cell)
    if messages is None:
        return "", "", "messages is not a list of {role, content}" if cell and cell.strip() else "empty messages"
    answers = [i for i, m in enumerate(messages) if m.get("role") == ASSISTANT]
    if not answers:
        return "", "", f"no {ASSISTANT} turn in the messages"
    questions = [m for m in messages[: answers[-1]] if m.get("role") == USER]
    if not questions:
        return "", "", f"no {USER} turn before the last {ASSISTANT} turn"
    return turn_text(questions[-1]), turn_text(messages[answers[-1]]), None
