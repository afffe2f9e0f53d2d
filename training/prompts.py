"""Prompt templates: the exact text the policy sees, and the completion as the format check must see it.

The NOVER instruction and five prior-prompt variants ("Prior Prompt Engineering for Reinforcement
Fine-Tuning", Taveekitworachai et al., 2025) differ only in what they ask the model to write inside the
intermediate tag; all of them ask for the same two-tag output, so the NOVER rewards apply unchanged.
Three renderings (RunConfig.prompt_format): the model's chat template, the same turns as plain User/Assistant text,
or the raw "Question: ..." text the NOVER paper trained base models on (no roles at all).
Standard library only: the tokenizer is passed in and only its chat template is used.
"""

from __future__ import annotations

import re
from typing import Any

from training.config import RunConfig

PLACEHOLDER = "..."
"""What the instructions show inside the tags where the reasoning and the answer go. A small model sometimes copies
it literally; NOVER still ranks such a rollout (training/flags.py flags it as "copied placeholder")."""


def format_line(intermediate_tag: str, final_tag: str) -> str:
    """The output format as the instructions spell it, PLACEHOLDER standing for the reasoning and the answer."""
    i, f = intermediate_tag, final_tag
    return f"<{i}> {PLACEHOLDER} </{i}> <{f}> {PLACEHOLDER} </{f}>"


def nover_instruction(intermediate_tag: str, final_tag: str) -> str:
    return f"Answer the question and return in the following format: {format_line(intermediate_tag, final_tag)}"


# What each prior-prompt variant asks for inside the intermediate tag ({i}).
_PRIOR_PROMPTS = {
    "reasoning": "Reason through the question step by step inside <{i}> </{i}>",
    "planning": "First write a short plan of how to solve the question inside <{i}> </{i}>, following it as you work",
    "code": "Work the question out with code or pseudo-code inside <{i}> </{i}>, tracing what it computes",
    "knowledge": "First recall the facts and knowledge the question relies on inside <{i}> </{i}>",
    "null-example": "First recall a similar example question and how it is solved inside <{i}> </{i}>, then "
    "apply it to this question",
}


def instruction(template: str, intermediate_tag: str, final_tag: str) -> str:
    """The instruction appended to each question for a prompt template ('nover' or a prior-prompt name)."""
    if template == "nover":
        return nover_instruction(intermediate_tag, final_tag)
    if template not in _PRIOR_PROMPTS:
        raise ValueError(f"unknown prompt template {template!r}; use one of nover, {', '.join(_PRIOR_PROMPTS)}")
    lead = _PRIOR_PROMPTS[template].format(i=intermediate_tag)
    # Every variant spells out the exact output too: the format reward accepts nothing else.
    return (
        f"{lead}, then give the final answer inside <{final_tag}> </{final_tag}>. Use exactly this format: "
        f"{format_line(intermediate_tag, final_tag)}"
    )


def has_instruction(question: str, intermediate_tag: str, final_tag: str) -> bool:
    """True when the question already spells out the output format (as NOVER's own data files do)."""
    tags = [f"<{intermediate_tag}>", f"</{intermediate_tag}>", f"<{final_tag}>", f"</{final_tag}>"]
    # All four tags in order: a question that merely mentions one tag does not state a format.
    pattern = r".*?".join(re.escape(tag) for tag in tags)
    return re.search(pattern, question, flags=re.DOTALL | re.IGNORECASE) is not None


# The worked example shown when config.format_example is on. Small models copy the shape of one example
# far more reliably than they follow a described format (DESIGN.md: 0/32 valid rollouts without it).
_EXAMPLE_QUESTION = "Tom has 2 pencils and finds 3 more. How many pencils does Tom have now?"
_EXAMPLE_ANSWER = "5"
_EXAMPLE_INTERMEDIATE = {
    "nover": "Tom starts with 2 pencils and finds 3 more, so he has 2 + 3 = 5 pencils.",
    "reasoning": "Step 1: Tom starts with 2 pencils.\nStep 2: He finds 3 more.\nStep 3: 2 + 3 = 5.",
    "planning": "Plan: take the pencils Tom starts with and add the ones he finds.\n2 + 3 = 5.",
    "code": "pencils = 2\npencils += 3  # he finds 3 more\nprint(pencils)  # 5",
    "knowledge": "Finding more of something adds to what you have, so this is an addition: 2 + 3 = 5.",
    "null-example": "A similar example: Ann has 1 cup and gets 1 more, so she has 1 + 1 = 2 cups.\n"
    "Here Tom has 2 + 3 = 5 pencils.",
}


def example_completion(config: RunConfig) -> str:
    """The assistant turn of the worked example, in exactly the format the rewards accept."""
    i, f = config.intermediate_tag, config.final_tag
    return f"<{i}>\n{_EXAMPLE_INTERMEDIATE[config.prompt_template]}\n</{i}>\n<{f}>\n{_EXAMPLE_ANSWER}\n</{f}>"


def user_turn(question: str, config: RunConfig) -> str:
    if has_instruction(question, config.intermediate_tag, config.final_tag):
        return question
    return f"{question}\n\n{instruction(config.prompt_template, config.intermediate_tag, config.final_tag)}"


def build_messages(question: str, config: RunConfig) -> list[dict[str, str]]:
    """Chat messages for one question: [system, example user, example assistant,] user."""
    messages: list[dict[str, str]] = []
    if config.format_example:
        system_line = "You are a helpful assistant. Always reply in exactly this format: "
        messages += [
            {"role": "system", "content": system_line + format_line(config.intermediate_tag, config.final_tag)},
            {"role": "user", "content": user_turn(_EXAMPLE_QUESTION, config)},
            {"role": "assistant", "content": example_completion(config)},
        ]
    messages.append({"role": "user", "content": user_turn(question, config)})
    return messages


def prefill_text(config: RunConfig) -> str:
    """What the response starts with before the model writes anything ('' when prefill is off)."""
    return f"<{config.intermediate_tag}>\n" if config.prefill_intermediate else ""


def build_prompt(question: str, config: RunConfig, tokenizer: Any = None) -> str:
    """The exact text the policy is asked to continue (and the proxy conditions on). Training, evaluation and
    playground jobs all build their prompts here, so a checkpoint is asked the way it was trained."""
    if config.prompt_format == "raw":
        text = raw_text(question, config)
    elif config.prompt_format == "chat" and tokenizer is not None and getattr(tokenizer, "chat_template", None):
        text = tokenizer.apply_chat_template(
            build_messages(question, config), tokenize=False, add_generation_prompt=True
        )
    else:
        text = _plain_text(build_messages(question, config))
    return text + prefill_text(config)


RAW_QUESTION = "Question: "
"""How a raw prompt opens, as in the paper-era NOVER data (its README, "Data")."""


def raw_instruction(template: str, intermediate_tag: str, final_tag: str) -> str:
    """The instruction of a raw prompt: for 'nover' the paper-era data's wording and layout, each tag and the
    placeholder on a line of its own; a prior-prompt variant as in chat prompts."""
    if template != "nover":
        return instruction(template, intermediate_tag, final_tag)
    i, f = intermediate_tag, final_tag
    return (
        "Answer the question and return in the following format:\n\n"
        f"<{i}>\n{PLACEHOLDER}\n</{i}>\n\n<{f}>\n{PLACEHOLDER}\n</{f}>"
    )


def raw_turn(question: str, config: RunConfig) -> str:
    """One question as raw text, ending in a line break.

    >>> print(raw_turn("What is 2 + 3?", RunConfig(prompt_format="raw")), end="")
    Question: What is 2 + 3?
    <BLANKLINE>
    Answer the question and return in the following format:
    <BLANKLINE>
    <think>
    ...
    </think>
    <BLANKLINE>
    <answer>
    ...
    </answer>
    """
    if has_instruction(question, config.intermediate_tag, config.final_tag):
        return question if question.endswith("\n") else question + "\n"  # NOVER's own data comes formatted
    lines = raw_instruction(config.prompt_template, config.intermediate_tag, config.final_tag)
    return f"{RAW_QUESTION}{question}\n\n{lines}\n"


def raw_text(question: str, config: RunConfig) -> str:
    """A raw prompt: no chat template, no roles and no system line; the worked example (format_example), when on,
    is a question and its answered completion before the question itself."""
    if not config.format_example:
        return raw_turn(question, config)
    return f"{raw_turn(_EXAMPLE_QUESTION, config)}{example_completion(config)}\n\n{raw_turn(question, config)}"


def _plain_text(messages: list[dict[str, str]]) -> str:
    """A chat rendering for models without a chat template (base models)."""
    speaker = {"system": "", "user": "User: ", "assistant": "Assistant:\n"}  # as the final turn opens
    turns = [speaker[m["role"]] + m["content"] for m in messages]
    return "\n\n".join(turns) + "\n\nAssistant:\n"


def completion_with_prefill(completion: str, config: RunConfig) -> str:
    """The completion with the prefilled opening tag put back, so the format reward scores the whole rollout.

    The prefill is part of the prompt, so the model never generates it; without it a prefilled rollout
    would always fail the format check. A model that writes the tag again gets it twice, and fails, as it should.
    """
    return prefill_text(config) + completion
