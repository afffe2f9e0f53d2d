"""Small helpers shared by the tests: rollout rows, waiting on a condition, fake trainers."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from html.parser import HTMLParser
from typing import Any

from training.config import RunConfig
from training.interface import RunContext, Sink


def rollout_row(group: int = 0, sample: int = 0, **overrides: Any) -> dict[str, Any]:
    row = dict(
        group_index=group,
        sample_index=sample,
        prompt=f"question {group}?",
        reference=f"answer {group}",
        completion=f"<think>r{sample}</think><answer>a{sample}</answer>",
        reasoning=f"r{sample}",
        answer=f"a{sample}",
        reward=1.5,
        reward_format=1.0,
        reward_reasoning=0.5,
        reward_efficiency=0.0,
        perplexity=3.25,
        reasoning_tokens=4,
        completion_tokens=12,
        advantage=0.1,
        truncated=False,
        format_valid=True,
        extras={"nll": [0.5, 1.25]},
    )
    row.update(overrides)
    return row


def step_rows(groups: int = 2, group_size: int = 8) -> list[dict[str, Any]]:
    return [rollout_row(g, s) for g in range(groups) for s in range(group_size)]


def wait_for(condition: Callable[[], Any], timeout_s: float = 30.0, what: str = "condition") -> Any:
    """Poll `condition` until it returns something truthy; fail the test after timeout_s."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def stepping_trainer(rows_per_step: int = 16, step_s: float = 0.0) -> Callable[[RunConfig, Sink, RunContext], None]:
    """A stand-in trainer that reports max_steps steps of rollouts and metrics, honouring should_stop."""

    def train(config: RunConfig, sink: Sink, context: RunContext) -> None:
        for step in range(1, config.max_steps + 1):
            if sink.should_stop():
                return
            sink.log_rollouts(step, [rollout_row(i // 8, i % 8) for i in range(rows_per_step)])
            if step_s:
                time.sleep(step_s)  # stands for the time a real step computes
            sink.log_metrics(step, {"reward": step / 10, "loss": 1.0 / step})
            if config.checkpoint_steps and step % config.checkpoint_steps == 0:
                sink.log_checkpoint(step, str(context.workdir / f"checkpoint-{step}"))

    return train


class TagCollector(HTMLParser):
    """The start tags (with their attributes as a dict) and the text of an HTML fragment."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data):
        self.text.append(data)


def parsed(markup: str) -> TagCollector:
    collector = TagCollector()
    collector.feed(markup)
    collector.close()
    return collector


def chatml(messages: list[dict[str, str]]) -> str:
    """Chat messages as the default model's template (ChatML) renders them, the assistant turn opened: a stored
    prompt like the worker's, without loading a tokenizer."""
    turns = "".join(f"<|im_start|>{m['role']}\n{m['content']}<|im_end|>\n" for m in messages)
    return turns + "<|im_start|>assistant\n"
