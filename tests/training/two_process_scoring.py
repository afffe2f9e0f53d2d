"""Run in two processes: each scores its half of a fixed batch, as under `accelerate launch`.

    python -m torch.distributed.run --nproc_per_node 2 -m tests.training.two_process_scoring HOME OUT

(torchrun is what `accelerate launch --multi_gpu` starts; on a CPU-only machine accelerate's own --cpu
launcher runs a single process, so the test calls torchrun directly and asks accelerate for CPU processes.)

Rank 0 writes every rollout's rewards and perplexity (in batch order) to OUT as JSON.
"""

import json
import sys
from pathlib import Path

QUESTIONS = {"a": ("What is 3 + 4?", "7"), "b": ("What day comes after Friday?", "Saturday")}


def fixed_batch() -> list[tuple[str, str, str]]:
    """(question key, completion, reference): two groups of four, interleaved so each spans both processes."""
    completions = {
        "a": ["3 + 4 = 7.", "Three plus four makes seven.", "no tags here", "Add them: 3 + 4 is 7, the sum."],
        "b": [
            "After Friday comes Saturday.",
            "Friday, then Saturday.",
            "Saturday follows Friday in a week.",
            "<answer>Saturday</answer>",
        ],
    }
    rows = []
    for i in range(4):
        for key in ("a", "b"):
            text = completions[key][i]
            completion = (
                text
                if "answer>" in text or "tags" in text
                else (f"{text}\n</think>\n<answer>\n{QUESTIONS[key][1]}\n</answer>")
            )
            rows.append((key, completion, QUESTIONS[key][1]))
    return rows


def main(home: Path, out: Path) -> None:
    from accelerate import PartialState
    from accelerate.utils import gather_object
    from peft import get_peft_model

    from training.config import preset
    from training.model import load_model, lora_config
    from training.prompts import build_prompt
    from training.proxy import add_proxy, proxy_active
    from training.scorer import NoverScorer

    config = preset("cpu-demo")
    state = PartialState(cpu=True)  # gloo across CPU processes
    base, tokenizer = load_model(config, home)
    model = get_peft_model(base, lora_config(config))
    add_proxy(model)
    batch = fixed_batch()
    half = len(batch) // state.num_processes
    mine = batch[state.process_index * half : (state.process_index + 1) * half]
    scorer = NoverScorer(
        model,
        tokenizer,
        config,
        proxy=lambda: proxy_active(model),
        gather=gather_object,
        process_index=state.process_index,
    )
    scored = scorer.score(
        [build_prompt(QUESTIONS[k][0], config, tokenizer) for k, _, _ in mine],
        [c for _, c, _ in mine],
        [k for k, _, _ in mine],
        [r for _, _, r in mine],
    )
    everyone = gather_object(
        [([s.rewards.format, s.rewards.reasoning, s.rewards.efficiency, s.rewards.total], s.perplexity) for s in scored]
    )
    if state.is_main_process:
        out.write_text(
            json.dumps(
                {
                    "world_size": state.num_processes,
                    "rewards": [r for r, _ in everyone],
                    "perplexity": [p for _, p in everyone],
                }
            )
        )


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
