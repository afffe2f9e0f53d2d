"""A checkpoint merged into a full model, for real: the shared trained run's last checkpoint goes through the merge
job path (queued as the dashboard queues it, claimed and run by the worker's code), and the folder it writes loads
with plain transformers and computes what the PEFT model computes."""

import json

import pytest
import torch
import yaml
from peft import PeftModel
from safetensors.torch import load_file
from transformers import AutoModelForCausalLM, AutoTokenizer

from nover_ui.merge_actions import merged_path, queue_merge
from nover_ui.places import Places
from storage import Status, Store
from tests.trained_run import NAME, copy_trained_db
from training.config import RunConfig
from training.jobs import JobError
from training.merge_export import merge_checkpoint, merged_folder
from training.model import load_model
from training.model_card import ModelCard
from training.worker import run_claimed_job

STEP = 2


@pytest.fixture(scope="module")
def merged(trained_home, tmp_path_factory):
    """(store, home, the merge job as it ended): the run's checkpoint at STEP merged by a worker's code, with an
    Evaluate-tab evaluation of that checkpoint recorded first for the card to carry."""
    home = tmp_path_factory.mktemp("merge") / "home"
    home.mkdir()
    (home / "models").symlink_to((trained_home / "models").resolve(), target_is_directory=True)
    copy_trained_db(trained_home, home)
    store = Store(f"sqlite:///{home / 'nover_ui.db'}")
    run = store.list_runs()[0]
    evaluation = store.queue_evaluation("evaluation", "m", "builtin:demo", {"split": "test"}, run.id, STEP)
    assert store.claim_next_evaluation("w").id == evaluation.id
    store.finish_evaluation(evaluation.id, Status.SUCCEEDED, {"format_valid_rate": 0.5, "samples": 4.0})
    job = queue_merge(store, run.id, STEP, Places(home))
    claimed = store.claim_next_evaluation("worker")
    assert claimed.id == job.id and claimed.kind == "merge"
    ended = run_claimed_job(store, claimed, home)
    yield store, home, ended
    store.close()


@pytest.fixture(scope="module")
def checkpoint(merged):
    store, _, ended = merged
    return store.get_checkpoint(ended.run_id, STEP).path


def test_the_worker_writes_a_plain_model_folder_under_home_exports(merged):
    store, home, ended = merged
    assert ended.status == Status.SUCCEEDED, ended.error
    folder = merged_folder(home, ended.run_id, STEP)
    assert ended.metrics["path"] == str(folder) and merged_path(store, ended.run_id, STEP, home) == folder
    files = {path.name for path in folder.iterdir()}
    assert {"config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json", "README.md"} <= files
    assert not {"adapter_config.json", "adapter_model.safetensors", "ref"} & files  # nothing for PEFT to find
    assert ended.metrics["bytes"] == sum(path.stat().st_size for path in folder.iterdir())
    tokenizer = AutoTokenizer.from_pretrained(folder)
    assert "<|im_start|>" in tokenizer.apply_chat_template([{"role": "user", "content": "hi"}], tokenize=False)
    assert not list(folder.parent.glob(".*"))  # no staging folder left beside it


def test_the_card_holds_the_run_and_the_checkpoints_evaluation_and_its_snippet_runs(merged, capsys):
    _, home, ended = merged
    folder = merged_folder(home, ended.run_id, STEP)
    text = (folder / "README.md").read_text()
    meta = yaml.safe_load(text.split("---\n")[1])
    assert meta["base_model"] == "HuggingFaceTB/SmolLM2-135M-Instruct" and meta["model_name"] == NAME
    assert {"nover", "grpo", "trl", "lora"} <= set(meta["tags"])
    assert "Evaluation 1 of this checkpoint (split test)" in text and "| format\\_valid\\_rate | 0.5 |" in text
    snippet = text.split("```python\n")[1].split("```")[0]
    exec(snippet.replace('path = "."', f"path = {str(folder)!r}"), {})  # the card's "How to load it", as written
    assert "Why is the sky blue?" in capsys.readouterr().out


def test_the_merged_model_loads_without_peft_and_computes_the_peft_models_logits(merged, checkpoint):
    store, home, ended = merged
    config = RunConfig.from_dict(store.get_run(ended.run_id).config)
    plain = AutoModelForCausalLM.from_pretrained(merged_folder(home, ended.run_id, STEP)).eval()
    assert not isinstance(plain, PeftModel) and getattr(plain.config, "quantization_config", None) is None
    base, tokenizer = load_model(config, home)
    peft = PeftModel.from_pretrained(base, checkpoint).eval()
    ids = tokenizer.apply_chat_template(
        [{"role": "user", "content": "What is 2 + 3?"}],
        add_generation_prompt=True,
        return_tensors="pt",
        return_dict=True,
    )["input_ids"]
    with torch.no_grad():
        expected = peft(ids).logits
        got = plain(ids).logits
        with peft.disable_adapter():
            untrained = peft(ids).logits
    assert torch.allclose(got, expected, atol=1e-4), (got - expected).abs().max()
    assert (untrained - expected).abs().max() > 10 * (got - expected).abs().max()  # the adapter mattered


def test_a_4bit_run_merges_onto_a_full_precision_base(merged, checkpoint, tmp_path):
    """No 4-bit checkpoint is trained here (a QLoRA run on a CPU costs minutes): the shared run's adapter merged
    under a 4bit config shows the load asks for no quantization, giving the same float32 weights."""
    store, home, ended = merged
    config = RunConfig.from_dict(store.get_run(ended.run_id).config).replace(quantization="4bit")
    out = merge_checkpoint(config, checkpoint, tmp_path / "out", home, ModelCard(ended.run_id, "4bit", STEP))
    assert "quantization_config" not in json.loads((out / "config.json").read_text())
    weights = load_file(out / "model.safetensors")
    reference = load_file(merged_folder(home, ended.run_id, STEP) / "model.safetensors")
    assert {t.dtype for t in weights.values()} == {torch.float32}
    assert weights.keys() == reference.keys() and all(torch.equal(weights[k], reference[k]) for k in weights)


def test_a_folder_without_an_adapter_is_refused_and_nothing_is_written(merged, tmp_path):
    _, home, _ = merged
    (tmp_path / "empty").mkdir()
    with pytest.raises(JobError, match="holds no LoRA adapter"):
        merge_checkpoint(RunConfig(), tmp_path / "empty", tmp_path / "exports" / "out", home, ModelCard(1, "r", 1))
    assert not (tmp_path / "exports").exists()


def test_a_merge_of_a_checkpoint_not_on_this_machine_fails_saying_so(merged, tmp_path):
    store, home, ended = merged
    store.add_checkpoint(ended.run_id, 7, str(tmp_path / "on-another-machine"))
    job = queue_merge(store, ended.run_id, 7, Places(home))
    failed = run_claimed_job(store, store.claim_next_evaluation("worker"), home)
    assert failed.id == job.id and failed.status == Status.FAILED
    assert "is not on this machine" in failed.error
