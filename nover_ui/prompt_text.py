"""Stored prompts are the full text the policy saw (chat template, system line and worked example included);
people want the question: the content of the last user turn, which is the data row's question with its
instruction (training/prompts.py builds it).

>>> question("<|im_start|>system\\nBe brief.<|im_end|>\\n<|im_start|>user\\n2+2?<|im_end|>\\n<|im_start|>assistant\\n")
'2+2?'
>>> question("User: 1+1?\\n\\nAssistant:\\n2\\n\\nUser: 2+2?\\n\\nAssistant:\\n<think>\\n")
'2+2?'
>>> question("Question: 1+1?\\n<think>1+1</think><answer>2</answer>\\n\\nQuestion: 2+2?\\n<think>\\n")
'2+2?\\n<think>'
>>> question("no chat markup: shown whole")
'no chat markup: shown whole'
"""

CHATML_USER, CHATML_END = "<|im_start|>user", "<|im_end|>"
LLAMA3_USER, LLAMA3_END = "<|start_header_id|>user<|end_header_id|>", "<|eot_id|>"
PLAIN_USER, PLAIN_ASSISTANT = "User: ", "\n\nAssistant:\n"
"""The turns of training/prompts.py's rendering for models without a chat template."""
RAW_QUESTION = "Question: "
"""How each question of training/prompts.py's raw rendering (prompt_format raw) opens."""


def question(prompt: str) -> str:
    """The last user turn of a ChatML (the default model's), Llama 3 or plain rendering, the last question of a raw
    one; any other prompt unchanged."""
    for opening, closing in ((CHATML_USER, CHATML_END), (LLAMA3_USER, LLAMA3_END)):
        if opening in prompt:
            return prompt.rsplit(opening, 1)[1].split(closing, 1)[0].strip()
    before_reply, reply, _ = prompt.rpartition(PLAIN_ASSISTANT)
    if reply and (before_reply.startswith(PLAIN_USER) or f"\n\n{PLAIN_USER}" in before_reply):
        return before_reply.rsplit(f"\n\n{PLAIN_USER}", 1)[-1].removeprefix(PLAIN_USER).strip()
    if prompt.startswith(RAW_QUESTION):  # the last question; a worked example before it is left out
        return prompt.rsplit(f"\n\n{RAW_QUESTION}", 1)[-1].removeprefix(RAW_QUESTION).strip()
    return prompt


def question_line(prompt: str, limit: int = 90) -> str:
    """The question on one line, cut at `limit` characters: a label for pickers."""
    line = " ".join(question(prompt).split())
    return line if len(line) <= limit else line[:limit] + "…"
