"""The merged model's card: Hugging Face's front matter that any YAML reader parses back, the run's facts, and
user-given names that can neither break the YAML nor become Markdown or HTML."""

import pytest
import yaml
from markdown_it import MarkdownIt

from training.config import ConfigError, RunConfig, preset
from training.model_card import ModelCard, card_text

HOSTILE = 'x" \n---\nbase_model: evil\n# [click](http://e.vil) <img src=x onerror=alert(1)> `code` | \\ é😀'
CONFIG = preset("cpu-demo", dataset="openai/gsm8k", reward="rlpr")


def front_matter(text):
    assert text.startswith("---\n")
    head, _, body = text[4:].partition("\n---\n")
    return yaml.safe_load(head), body


def test_a_hostile_run_name_reads_back_whole_and_adds_no_key():
    card = ModelCard(7, HOSTILE, 40, data_name=HOSTILE)
    meta, body = front_matter(card_text(card, CONFIG))
    assert meta == {
        "base_model": "HuggingFaceTB/SmolLM2-135M-Instruct",
        "library_name": "transformers",
        "model_name": HOSTILE,
        "pipeline_tag": "text-generation",
        "tags": ["nover", "grpo", "trl", "lora", "merged"],
        "datasets": ["openai/gsm8k"],
    }
    # Rendered as CommonMark (with tables, as the Hub renders cards): the name is text, nothing else.
    html = MarkdownIt("commonmark").enable("table").render(body)
    assert "<img" not in html and "<a " not in html and "<code>code" not in html and html.count("<h1>") == 1
    assert "&lt;img src=x onerror=alert(1)&gt; `code` | \\ é😀</h1>" in html
    assert body.startswith('\n# x\\"  \\-\\-\\- base\\_model\\: evil \\# \\[click\\]')


def test_the_card_holds_the_runs_fields_recipe_and_metrics():
    card = ModelCard(
        7,
        "gsm8k rlpr",
        40,
        data_name="openai/gsm8k",
        heldout={"eval/accuracy": 0.25, "eval/format_valid": 0.75, "eval/perplexity": None},
        evaluation_id=12,
        evaluation_split="test",
        evaluation_metrics={"format_valid_rate": 0.5},
    )
    text = card_text(card, CONFIG)
    assert "run 7 of a NOVER dashboard at step 40" in text
    assert "Reward recipe: rlpr: RLPR (arXiv 2506.18254)" in text
    assert "| learning\\_rate | 0.0001 |" in text and "| model | HuggingFaceTB\\/SmolLM2\\-135M\\-Instruct |" in text
    assert "| eval\\/accuracy | 0.25 |" in text and "| eval\\/perplexity | n/a |" in text
    assert "Evaluation 12 of this checkpoint (split test)" in text and "| format\\_valid\\_rate | 0.5 |" in text
    assert "AutoModelForCausalLM.from_pretrained(path)" in text


def test_a_local_base_model_and_file_data_are_no_hub_ids():
    meta, _ = front_matter(card_text(ModelCard(1, "r", 1), RunConfig(model="/models/mine", dataset="/up/a.csv")))
    assert "base_model" not in meta and "datasets" not in meta
    assert "None recorded for this checkpoint." in card_text(ModelCard(1, "r", 1), RunConfig())


@pytest.mark.parametrize(
    "facts, message",
    [
        ({"run_id": 1, "run_name": "r"}, "incomplete"),
        ({"run_id": -1, "run_name": "r", "step": 1}, "card.run_id must be a whole number >= 0"),
        ({"run_id": 1, "run_name": "r" * 300, "step": 1}, "card.run_name must be a text of at most 256"),
        ({"run_id": 1, "run_name": "r", "step": 1, "heldout": {"k": "1"}}, "must be a number or None"),
        ({"run_id": 1, "run_name": "r", "step": 1, "extra": 1}, "JSON object of"),
    ],
)
def test_bad_facts_are_refused_naming_the_card(facts, message):
    with pytest.raises(ConfigError, match=message) as refused:
        ModelCard.from_dict(facts)
    assert refused.value.field == "card"
