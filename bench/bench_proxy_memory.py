"""Peak memory of the NOVER proxy as a second LoRA adapter vs. as a deep copy of the model.

    .venv/bin/python -m bench.bench_proxy_memory

Each variant runs in a fresh process (peak RSS cannot be reset within one): load the model and page its weights
in (safetensors weights are memory-mapped and only become resident when first read), wrap it with LoRA, make the
proxy, run one scoring forward through the proxy (8 x 256 tokens), then one training forward/backward through the
policy. Reported, as memory above the RSS after imports:
  weights+proxy  resident after making the proxy: policy weights and proxy, no activations
  +scoring       peak after the scoring forward: adds the scoring activations (the same size in both variants)
  full step      peak after the backward too: adds training activations, also the same in both variants, so on a
                 small model with a long batch they dominate and pull the ratio towards 1
Models: the default SmolLM2-135M and a 0.5B-class config with random weights (Qwen2.5-0.5B shapes).
"""

from __future__ import annotations

import copy
import json
import resource
import subprocess
import sys
from pathlib import Path


def rss_mb() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


def measure(model_name: str, variant: str, home: str) -> dict:
    import torch
    from peft import get_peft_model
    from transformers import AutoModelForCausalLM, Qwen2Config

    from training.config import preset
    from training.model import lora_config, resolve_model
    from training.proxy import add_proxy, proxy_active

    config = preset("cpu-demo")
    after_imports = rss_mb()
    if model_name == "default":
        base = AutoModelForCausalLM.from_pretrained(resolve_model(config.model, Path(home)))
    else:  # Qwen2.5-0.5B shapes, random weights
        shapes = Qwen2Config(
            hidden_size=896,
            intermediate_size=4864,
            num_hidden_layers=24,
            num_attention_heads=14,
            num_key_value_heads=2,
            vocab_size=151936,
            tie_word_embeddings=True,
        )
        base = AutoModelForCausalLM.from_config(shapes)
    with torch.no_grad():
        sum(float(p.sum()) for p in base.parameters())  # page the memory-mapped weights in, as a forward would
    model = get_peft_model(base, lora_config(config))
    ids = torch.randint(0, 1000, (8, 256))
    if variant == "adapter":
        add_proxy(model)
        weights = rss_mb()
        with torch.no_grad(), proxy_active(model):
            model(input_ids=ids, logits_to_keep=32)
    else:
        proxy = copy.deepcopy(model)  # what the public NOVER code did
        proxy.requires_grad_(False)
        weights = rss_mb()
        with torch.no_grad():
            proxy(input_ids=ids, logits_to_keep=32)
    scoring_peak = peak_mb()
    model(input_ids=ids, logits_to_keep=32).logits.float().logsumexp(-1).mean().backward()
    return {
        "weights+proxy": weights - after_imports,
        "+scoring": scoring_peak - after_imports,
        "full step": peak_mb() - after_imports,
    }


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    home = str(Path("test-artifacts/model-home").resolve())
    if len(sys.argv) == 4:  # child process
        print(json.dumps(measure(sys.argv[1], sys.argv[2], sys.argv[3])))
        return
    for model_name in ("default", "0.5B-class"):
        results = {}
        for variant in ("adapter", "deepcopy"):
            out = subprocess.run(
                [sys.executable, "-m", "bench.bench_proxy_memory", model_name, variant, home],
                capture_output=True,
                text=True,
                check=True,
            )
            results[variant] = json.loads(out.stdout.strip().splitlines()[-1])
        a, c = results["adapter"], results["deepcopy"]
        for what in ("weights+proxy", "+scoring", "full step"):
            print(
                f"{model_name:>10} {what:>13}: adapter {a[what]:7.0f} MB  deep copy {c[what]:7.0f} MB  "
                f"ratio {a[what] / c[what]:.2f}"
            )


if __name__ == "__main__":
    main()
