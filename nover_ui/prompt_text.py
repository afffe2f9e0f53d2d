"""Stored prompts are the full text the policy saw (chat template included); people want the question."""

CHATML_USER, CHATML_END = "<|im_start|>user", "<|im_end|>"


def question(prompt: str) -> str:
    """With a ChatML template (the default model's), the last user turn; any other prompt unchanged."""
    if CHATML_USER in prompt:
        return prompt.rsplit(CHATML_USER, 1)[1].split(CHATML_END, 1)[0].strip()
    return prompt


def question_line(prompt: str, limit: int = 90) -> str:
    """The question on one line, cut at `limit` characters: a label for pickers."""
    line = " ".join(question(prompt).split())
    return line if len(line) <= limit else line[:limit] + "…"
