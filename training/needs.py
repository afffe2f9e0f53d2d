"""What a run needs of the machine that trains it, and whether a worker's machine has it.

Standard library only: the dashboard checks a request against the live workers' recorded capabilities without
importing torch (nover_ui/queue.py), and a worker passes over the queued runs its machine cannot train
(training/worker.py); training/capabilities.py detects what a machine has.

What counts as a need, and why:
- device cuda, or generation vllm: a CUDA GPU (vLLM generates on GPUs only).
- generation vllm: the vllm package, importable on that machine.
- quantization 4bit: bitsandbytes, importable there (bitsandbytes 0.50 also quantizes on CPU, so no GPU).
- dtype bfloat16 where the run lands on a GPU (device cuda, or auto on a machine with one): a GPU that computes in
  bf16. On a CPU torch computes in bf16 anywhere, so device cpu (or auto without a GPU) needs nothing.
- generation vllm in server mode with vllm_server_gpus: a machine that has those GPU numbers (the worker starts
  the server there).
- num_processes n > 1 where the run lands on GPUs: n GPUs on one machine (on each machine of a run over several:
  num_processes counts one machine's), since accelerate gives each process the GPU of its local rank. On a CPU the
  processes share the cores (gloo), so it needs nothing there.
A config that "auto" could place on either device needs only what its placement on that machine needs: `met`
reads the machine's capabilities, not the config alone.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from training.config import ConfigError, RunConfig


@dataclass(frozen=True)
class Capabilities:
    """What one worker's machine can run, as it recorded it when it started (Store.register_worker)."""

    cuda: bool = False
    gpus: int = 0
    """CUDA devices torch sees (CUDA_VISIBLE_DEVICES applies)."""
    bf16: bool = False
    """Its GPUs compute in bfloat16 (torch.cuda.is_bf16_supported); False without a GPU."""
    bitsandbytes: bool = False
    """`import bitsandbytes` works there."""
    vllm: bool = False
    """`import vllm` works there (looked for only where there is a GPU, as vLLM needs one)."""
    torch: str = ""
    """torch's version, shown with the worker."""

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> Capabilities:
        """A stored row's capabilities; keys a newer worker added are ignored, missing ones mean "has not".

        >>> Capabilities.from_dict({"cuda": True, "gpus": 2, "tpu": True})
        Capabilities(cuda=True, gpus=2, bf16=False, bitsandbytes=False, vllm=False, torch='')
        """
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{key: value for key, value in values.items() if key in names})


@dataclass(frozen=True)
class Need:
    """One thing a run needs of its machine: the config field that asks for it, why, and how to do without."""

    field: str
    reason: str
    fix: str
    met: Callable[[Capabilities], bool]

    def message(self) -> str:
        return f"{self.reason}: {self.fix}"


def needs(config: RunConfig) -> list[Need]:
    """Everything `config` needs of the machine that trains it (see the module's docstring for why).

    >>> [need.reason for need in needs(RunConfig(quantization="4bit", device="cuda"))]
    ['device cuda needs a CUDA GPU', 'quantization 4bit needs bitsandbytes']
    >>> needs(RunConfig(device="cpu", dtype="bfloat16", num_processes=2, prompts_per_step=2))
    []
    """
    found = []
    gpu_only = config.device == "cuda" or config.generation == "vllm"

    def on_gpu(c: Capabilities) -> bool:  # where the run lands on this machine
        return gpu_only or (config.device == "auto" and c.cuda)

    if config.device == "cuda":
        found.append(
            Need(
                "device",
                "device cuda needs a CUDA GPU",
                "start a worker on a machine with one, or set device to auto or cpu",
                lambda c: c.cuda,
            )
        )
    if config.generation == "vllm":
        found.append(
            Need(
                "generation",
                "generation vllm needs a CUDA GPU",
                "start a worker on a GPU machine, or set generation to transformers",
                lambda c: c.cuda,
            )
        )
        found.append(
            Need(
                "generation",
                "generation vllm needs the vllm package",
                "pip install -r requirements-gpu.txt on the worker's GPU machine, or set generation to transformers",
                lambda c: c.vllm,
            )
        )
    server_gpus = [int(gpu) for gpu in config.vllm_server_gpus.split(",") if gpu.strip()]
    if config.generation == "vllm" and config.vllm_mode == "server" and server_gpus:
        highest = max(server_gpus)
        found.append(
            Need(
                "vllm_server_gpus",
                f"vllm_server_gpus {config.vllm_server_gpus} needs a machine with GPU {highest} (GPUs 0 to {highest})",
                "name GPUs the worker's machine has, or leave vllm_server_gpus empty to use a server started apart",
                lambda c: c.gpus > highest,
            )
        )
    if config.quantization == "4bit":
        found.append(
            Need(
                "quantization",
                "quantization 4bit needs bitsandbytes",
                "pip install bitsandbytes on the worker's machine, or set quantization to none",
                lambda c: c.bitsandbytes,
            )
        )
    if config.dtype == "bfloat16" and config.device != "cpu":
        found.append(
            Need(
                "dtype",
                "dtype bfloat16 on a GPU needs one that computes in bf16 (Ampere or newer)",
                "set dtype to auto (float16 on such a GPU) or float16, or use a newer GPU",
                lambda c: not on_gpu(c) or c.bf16,
            )
        )
    if config.num_processes > 1 and config.device != "cpu":
        n = config.num_processes
        found.append(
            Need(
                "num_processes",
                f"num_processes {n} on GPUs needs {n} GPUs on one machine (one process per GPU)",
                f"set num_processes to the GPUs a worker has, or start a worker on a machine with {n}",
                lambda c: not on_gpu(c) or c.gpus >= n,
            )
        )
    return found


def unmet(config: RunConfig, capabilities: Capabilities) -> list[Need]:
    """What `config` needs that a machine with `capabilities` lacks; empty when it can train there."""
    return [need for need in needs(config) if not need.met(capabilities)]


def can_run(stored_config: dict[str, Any], capabilities: Capabilities) -> bool:
    """Whether a worker with `capabilities` should claim a run with this stored config. An invalid config is
    claimed anyway: the worker fails it with the reason, which no other worker would do better."""
    try:
        config = RunConfig.from_dict(stored_config)
    except ConfigError:
        return True
    return not unmet(config, capabilities)


def refusal(config: RunConfig, workers: Sequence[Capabilities]) -> ConfigError | None:
    """Why none of these workers can train `config` (the field and the fix of what the closest one lacks), or
    None when one can, or when there is none to ask (a worker started later may have what it needs).

    >>> print(refusal(RunConfig(quantization="4bit"), [Capabilities()]))
    no live worker can train this run (1 checked): quantization 4bit needs bitsandbytes: pip install \
bitsandbytes on the worker's machine, or set quantization to none
    >>> refusal(RunConfig(quantization="4bit"), []) is None
    True
    """
    if not workers:
        return None
    lacking = min((unmet(config, capabilities) for capabilities in workers), key=len)
    if not lacking:
        return None
    return ConfigError(
        lacking[0].field,
        f"no live worker can train this run ({len(workers)} checked): " + "; ".join(need.message() for need in lacking),
    )


def waiting_reason(stored_config: dict[str, Any], workers: Sequence[Capabilities]) -> str | None:
    """A queued run's short reason to wait when live workers exist and none can train it, else None.

    >>> waiting_reason({"device": "cuda"}, [Capabilities()])
    'no live worker: device cuda needs a CUDA GPU'
    """
    try:
        config = RunConfig.from_dict(stored_config)
    except ConfigError:
        return None
    if not workers:
        return None
    lacking = min((unmet(config, capabilities) for capabilities in workers), key=len)
    return f"no live worker: {lacking[0].reason}" if lacking else None
