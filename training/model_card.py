"""The model card (README.md) of a merged model: Hugging Face's conventions, the run's facts, and no markup from names.

Standard library only: the UI collects a card's facts when a person asks for a merge (ModelCard, stored in the merge
job, training/job_config.py MergeJob) and the worker writes the text beside the merged weights (card_text).

The front matter follows the Hub's model-card metadata (huggingface.co/docs/hub/model-cards) as TRL's own cards write
it: `base_model`, `library_name`, `model_name`, `tags`, `datasets`, `pipeline_tag`. Every value there is a YAML
double-quoted scalar in which each character that is not printable ASCII, and `"` and `\\`, is an escape
(`yaml_string`), so no run name can end the string, start a new key or a document. In the Markdown body every
user-given string goes through `markdown_text`, so a name never becomes a link, a heading or HTML.
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import PurePath
from typing import Any, Self

from training.config import BUILTIN_DATASETS, DEFAULT_MODEL, ConfigError, RunConfig
from training.recipe_presets import RECIPE_NOTES

TAGS = ("nover", "grpo", "trl", "lora", "merged")
HUB_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,95}(/[A-Za-z0-9][A-Za-z0-9._-]{0,95})?")
"""A Hugging Face repository id, 'name' or 'owner/name' (as nover_ui/places.py reads one)."""
TABLE_SUFFIXES = (".csv", ".jsonl", ".json", ".parquet")
MAX_NAME_CHARS = 256
MAX_METRICS = 64
MAX_KEY_CHARS = 128
KEY_SETTINGS = (
    "model",
    "dtype",
    "quantization",
    "reward",
    "reward_scorer",
    "reward_shaping",
    "format_weight",
    "reasoning_weight",
    "efficiency_weight",
    "verifier_weight",
    "intermediate_tag",
    "final_tag",
    "num_generations",
    "prompts_per_step",
    "max_completion_length",
    "temperature",
    "learning_rate",
    "beta",
    "loss_type",
    "lora_r",
    "lora_alpha",
    "lora_target_modules",
    "proxy_sync_steps",
    "proxy_alpha",
    "max_steps",
    "seed",
)
"""The RunConfig fields a card lists: what a reader needs to judge or repeat the run (the rest is in the dashboard)."""


@dataclass(frozen=True)
class ModelCard:
    """The facts about one checkpoint that its run's config does not hold, read from the database when the merge was
    asked for."""

    run_id: int
    run_name: str
    step: int
    data_name: str = ""
    """The data as the dashboard names it (an upload's own file name, a hub id, 'builtin:demo')."""
    heldout: Mapping[str, float | None] = field(default_factory=dict)
    """The run's eval/* metrics at this step (held-out evaluation during training), if it evaluated then."""
    evaluation_id: int | None = None
    """The latest finished Evaluate-tab evaluation of this checkpoint, if any."""
    evaluation_split: str = ""
    evaluation_metrics: Mapping[str, float | None] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name in ("run_id", "step"):
            value = getattr(self, name)
            if type(value) is not int or value < 0:
                raise ConfigError("card", f"card.{name} must be a whole number >= 0, got {value!r}")
        if self.evaluation_id is not None and type(self.evaluation_id) is not int:
            raise ConfigError("card", f"card.evaluation_id must be a whole number or None, got {self.evaluation_id!r}")
        for name in ("run_name", "data_name", "evaluation_split"):
            value = getattr(self, name)
            if not isinstance(value, str) or len(value) > MAX_NAME_CHARS:
                raise ConfigError("card", f"card.{name} must be a text of at most {MAX_NAME_CHARS} characters")
        for name in ("heldout", "evaluation_metrics"):
            object.__setattr__(self, name, _metrics(name, getattr(self, name)))

    def to_dict(self) -> dict[str, Any]:
        return {f.name: _plain(getattr(self, f.name)) for f in dataclasses.fields(self)}

    @classmethod
    def from_dict(cls, values: Any) -> Self:
        names = {f.name for f in dataclasses.fields(cls)}
        if not isinstance(values, dict) or not set(values) <= names:
            raise ConfigError("card", f"a model card's facts are a JSON object of {', '.join(sorted(names))}")
        try:
            return cls(**values)
        except TypeError as exc:  # a required fact missing
            raise ConfigError("card", f"a model card's facts are incomplete: {exc}") from None


def card_text(card: ModelCard, config: RunConfig) -> str:
    """The README.md of the merged model of `card`'s checkpoint, trained with `config`."""
    return front_matter(card, config) + "\n" + body(card, config)


def front_matter(card: ModelCard, config: RunConfig) -> str:
    """The YAML block the Hub reads (base model, library, tags, datasets).

    >>> print(front_matter(ModelCard(1, 'a "b"\\n: c', 2), RunConfig()), end="")
    ---
    base_model: "HuggingFaceTB/SmolLM2-135M-Instruct"
    library_name: "transformers"
    model_name: "a \\"b\\"\\x0a: c"
    pipeline_tag: "text-generation"
    tags:
    - "nover"
    - "grpo"
    - "trl"
    - "lora"
    - "merged"
    ---
    """
    lines = ["---"]
    base = base_model_id(config.model)
    if base is not None:
        lines.append(f"base_model: {yaml_string(base)}")
    lines += [
        f"library_name: {yaml_string('transformers')}",
        f"model_name: {yaml_string(card.run_name)}",
        f"pipeline_tag: {yaml_string('text-generation')}",
        "tags:",
        *(f"- {yaml_string(tag)}" for tag in TAGS),
    ]
    if is_hub_dataset(config.dataset):
        lines += ["datasets:", f"- {yaml_string(config.dataset)}"]
    return "\n".join([*lines, "---"]) + "\n"


def body(card: ModelCard, config: RunConfig) -> str:
    name = markdown_text(card.run_name) or "(unnamed run)"
    recipe = RECIPE_NOTES.get(config.reward, config.reward)
    rows = [f"| {markdown_text(key)} | {_value(getattr(config, key))} |" for key in KEY_SETTINGS]
    parts = [
        f"# {name}",
        f"A full model: the LoRA policy adapter of run {card.run_id} of a NOVER dashboard at step {card.step}, merged "
        f"into a full-precision copy of {markdown_text(config.model)}. It loads without PEFT.",
        "## Training",
        f"- Data: {markdown_text(card.data_name or config.dataset)}",
        f"- Reward recipe: {config.reward}: {recipe}",  # a choice of RunConfig's and its note: this project's text
        f"- Format: reasoning in {markdown_text(f'<{config.intermediate_tag}>')}, the answer in "
        f"{markdown_text(f'<{config.final_tag}>')}",
        "| setting | value |\n|---|---|\n" + "\n".join(rows),
        "## Held-out metrics",
        _metrics_section(card),
        "## How to load it",
        "```python\n"
        "from transformers import AutoModelForCausalLM, AutoTokenizer\n\n"
        'path = "."  # this folder, or the Hub repository it was pushed to\n'
        "tokenizer = AutoTokenizer.from_pretrained(path)\n"
        "model = AutoModelForCausalLM.from_pretrained(path)\n"
        'messages = [{"role": "user", "content": "Why is the sky blue?"}]\n'
        "inputs = tokenizer.apply_chat_template(\n"
        '    messages, add_generation_prompt=True, return_tensors="pt", return_dict=True\n'
        ")\n"
        "print(tokenizer.decode(model.generate(**inputs, max_new_tokens=32)[0]))\n"
        "```",
    ]
    return "\n\n".join(parts) + "\n"


def _metrics_section(card: ModelCard) -> str:
    parts = []
    if card.heldout:
        parts.append(f"During training, at step {card.step}:\n\n" + _metric_table(card.heldout))
    if card.evaluation_id is not None and card.evaluation_metrics:
        split = f" (split {markdown_text(card.evaluation_split)})" if card.evaluation_split else ""
        parts.append(
            f"Evaluation {card.evaluation_id} of this checkpoint{split}:\n\n" + _metric_table(card.evaluation_metrics)
        )
    return "\n\n".join(parts) or "None recorded for this checkpoint."


def _metric_table(metrics: Mapping[str, float | None]) -> str:
    rows = [f"| {markdown_text(key)} | {_shown(value)} |" for key, value in sorted(metrics.items())]
    return "| metric | value |\n|---|---|\n" + "\n".join(rows)


def yaml_string(text: str) -> str:
    """`text` as a YAML double-quoted scalar that every YAML 1.1 and 1.2 reader reads back as `text`: printable ASCII
    stays, `"` and `\\` are escaped, every other character is a \\x, \\u or \\U escape.

    >>> yaml_string('a"b\\\\c\\n---é')
    '"a\\\\"b\\\\\\\\c\\\\x0a---\\\\xe9"'
    """
    out = []
    for char in text:
        code = ord(char)
        if char in '"\\':
            out.append("\\" + char)
        elif 0x20 <= code < 0x7F:
            out.append(char)
        elif code < 0x100:
            out.append(f"\\x{code:02x}")
        elif code < 0x10000:
            out.append(f"\\u{code:04x}")
        else:
            out.append(f"\\U{code:08x}")
    return '"' + "".join(out) + '"'


_MARKDOWN_SPECIAL = re.compile(r"([!-/:-@\[-`{-~])")


def markdown_text(text: str) -> str:
    """`text` shown literally on one line of Markdown: every ASCII punctuation backslash-escaped (CommonMark allows it
    for each), so no link, heading, emphasis, table cell break or HTML tag can start.

    >>> markdown_text("[x](http://e.vil) <b>|")
    '\\\\[x\\\\]\\\\(http\\\\:\\\\/\\\\/e\\\\.vil\\\\) \\\\<b\\\\>\\\\|'
    """
    return _MARKDOWN_SPECIAL.sub(r"\\\1", " ".join(str(text).splitlines()))


def base_model_id(model: str) -> str | None:
    """The Hub id of the base model, for `base_model`; None for a local folder (no id to link to)."""
    if model.strip().lower() in {DEFAULT_MODEL.lower(), "smollm2-135m-instruct"}:
        return DEFAULT_MODEL  # the bundled default is this hub model, converted offline
    return model if is_hub_id(model) else None


def is_hub_dataset(dataset: str) -> bool:
    return dataset not in BUILTIN_DATASETS and is_hub_id(dataset)


def is_hub_id(name: str) -> bool:
    return (
        bool(HUB_ID.fullmatch(name))
        and ".." not in name
        and not name.lower().endswith(TABLE_SUFFIXES)
        and not PurePath(name).is_absolute()
    )


def _metrics(name: str, values: Any) -> dict[str, float | None]:
    if not isinstance(values, Mapping) or len(values) > MAX_METRICS:
        raise ConfigError("card", f"card.{name} must map at most {MAX_METRICS} metric names to numbers")
    metrics: dict[str, float | None] = {}
    for key, value in values.items():
        if not isinstance(key, str) or len(key) > MAX_KEY_CHARS:
            raise ConfigError("card", f"card.{name} has a metric name that is not a text of <= {MAX_KEY_CHARS} chars")
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))):
            raise ConfigError("card", f"card.{name}[{key!r}] must be a number or None, got {value!r}")
        metrics[key] = None if value is None or not math.isfinite(value) else float(value)
    return metrics


def _plain(value: Any) -> Any:
    return dict(value) if isinstance(value, Mapping) else value


def _value(value: Any) -> str:
    """A setting's value in a table cell: a text (model, tags, target modules) escaped, a number as it is."""
    return markdown_text(value) if isinstance(value, str) else _shown(value)


def _shown(value: Any) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)
