"""The question of a stored prompt, for every way training/prompts.py renders one."""

import pytest

from nover_ui.prompt_text import question, question_line
from training.config import RunConfig
from training.prompts import build_messages, build_prompt, user_turn

QUESTION = "What is 2+2?\n\nUser: a line that looks like a turn"


def llama3(messages: list[dict[str, str]]) -> str:
    turns = "".join(f"<|start_header_id|>{m['role']}<|end_header_id|>\n\n{m['content']}<|eot_id|>" for m in messages)
    return "<|begin_of_text|>" + turns + "<|start_header_id|>assistant<|end_header_id|>\n\n"


@pytest.mark.parametrize("format_example", [False, True])
@pytest.mark.parametrize("prefill", [False, True])
def test_the_plain_rendering_gives_back_the_last_user_turn(format_example, prefill):
    config = RunConfig(format_example=format_example, prefill_intermediate=prefill)
    assert question(build_prompt("Name a colour.", config)) == user_turn("Name a colour.", config)


@pytest.mark.parametrize("format_example", [False, True])
def test_a_llama_3_rendering_gives_back_the_last_user_turn(format_example):
    config = RunConfig(format_example=format_example)
    assert question(llama3(build_messages(QUESTION, config))) == user_turn(QUESTION, config).strip()


def test_a_prompt_without_chat_markup_is_its_own_question():
    assert question("Assistant:\nno user turn\n\nAssistant:\n") == "Assistant:\nno user turn\n\nAssistant:\n"
    assert question_line("  many   spaces\nand lines ") == "many spaces and lines"
