"""The job contracts: help and bounds written once, refusals that name field, value and fix, JSON round trips, and
rows queued before the contracts existed read the way the worker used to read them."""

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import pytest

from training.config import ConfigError, RunConfig, preset
from training.job_config import (
    JOB_KINDS,
    EvaluationJob,
    JobConfig,
    MergeJob,
    PlaygroundJob,
    job_class,
    job_from_dict,
    legacy_values,
)
from training.model_card import ModelCard

ROOT = Path(__file__).resolve().parents[2]
CPU_DEMO = preset("cpu-demo")


def test_job_kinds_are_listed_once_by_the_name_their_rows_store():
    assert JOB_KINDS == {"evaluation": EvaluationJob, "playground": PlaygroundJob, "merge": MergeJob}
    assert all(job_class(kind).kind == kind for kind in JOB_KINDS)
    with pytest.raises(
        ConfigError, match="unknown job kind 'benchmark'; a worker runs evaluation, playground, merge jobs"
    ):
        job_from_dict("benchmark", {})


@pytest.mark.parametrize("job_type", [EvaluationJob, PlaygroundJob, MergeJob])
def test_every_setting_has_its_help_and_every_number_and_text_its_bounds(job_type):
    for f in dataclasses.fields(job_type):
        assert len(f.metadata["help"]) > 20, f.name
        if f.name in ("run_config", "card"):  # bounded by RunConfig's and ModelCard's own checks
            continue
        assert "choices" in f.metadata or "most" in f.metadata, f.name
        if f.type == "int":
            assert 0 <= f.metadata["least"] < f.metadata["most"], f.name


@pytest.mark.parametrize(
    "job",
    [
        EvaluationJob(run_config=CPU_DEMO, split="validation", max_prompts=32, samples=4, seed=7, judge="self"),
        PlaygroundJob(run_config=CPU_DEMO.replace(model="org/m"), prompts=("Hi?", "2+2?"), reference="4", seed=3),
        PlaygroundJob(run_config=CPU_DEMO, prompts=("Hi?",)),
        MergeJob(
            run_config=CPU_DEMO,
            card=ModelCard(3, 'x"\n---', 2, "q.csv", {"eval/accuracy": 0.5}, 9, "test", {"samples": 8.0}),
        ),
    ],
)
def test_a_job_round_trips_through_json_and_is_complete_as_stored(job):
    stored = json.loads(json.dumps(job.to_dict()))
    assert stored["run_config"] == job.run_config.to_dict()
    assert type(job).is_complete(stored)
    assert job_from_dict(job.kind, stored) == job


def test_texts_are_stripped_and_an_empty_reference_means_none():
    job = PlaygroundJob.from_dict({"prompts": ["  Hi?\n"], "reference": "   "})
    assert (job.prompts, job.reference) == (("Hi?",), None)
    assert EvaluationJob(split=" test ").split == "test"


def test_number_widgets_whole_floats_count_and_a_checkbox_does_not():
    assert EvaluationJob.from_dict({"max_prompts": 8.0, "samples": 2.0, "seed": 0.0}).max_prompts == 8
    with pytest.raises(ConfigError, match="samples must be a whole number from 1 to 64, got True") as refused:
        EvaluationJob.from_dict({"samples": True})
    assert refused.value.field == "samples"


@pytest.mark.parametrize(
    "job_type, values, field, message",
    [
        (EvaluationJob, {"samples": 0}, "samples", "samples must be from 1 to 64, got 0"),
        (EvaluationJob, {"max_prompts": 10_001}, "max_prompts", "max_prompts must be from 1 to 10,000, got 10,001"),
        (EvaluationJob, {"seed": 2**32}, "seed", "seed must be from 0 to 4,294,967,295, got 4,294,967,296"),
        (EvaluationJob, {"seed": None}, "seed", "seed must be a whole number from 0 to 4,294,967,295, got None"),
        (EvaluationJob, {"judge": "proxy"}, "judge", "judge must be one of base, self, got 'proxy'"),
        (EvaluationJob, {"split": ""}, "split", "split must name a split of the data \\(e.g. 'test'\\), got ''"),
        (EvaluationJob, {"split": "s" * 129}, "split", "split has at most 128 characters, got 129; shorten it"),
        (EvaluationJob, {"run_config": {"temperature": 0}}, "run_config", "run_config: temperature must be > 0"),
        (EvaluationJob, {"run_config": "cpu-demo"}, "run_config", "run_config must be a RunConfig"),
        (PlaygroundJob, {}, "prompts", "prompts must be a non-empty list of non-empty strings, got \\[\\]"),
        (PlaygroundJob, {"prompts": "Hi?"}, "prompts", "non-empty list of non-empty strings, got 'Hi\\?'"),
        (PlaygroundJob, {"prompts": ["a"] * 65}, "prompts", "prompts holds at most 64 prompts, got 65"),
        (PlaygroundJob, {"prompts": ["a" * 20_001]}, "prompts", "each prompt has at most 20,000 characters"),
        (PlaygroundJob, {"prompts": ["a"], "reference": 4}, "reference", "reference must be a string or None, got 4"),
    ],
)
def test_a_refusal_names_the_field_the_value_and_the_fix(job_type, values, field, message):
    with pytest.raises(ConfigError, match=message) as refused:
        job_type.from_dict(values)
    assert refused.value.field == field


def test_unknown_keys_are_refused_with_the_known_ones_and_a_guess():
    with pytest.raises(ConfigError) as refused:
        EvaluationJob.from_dict({"max_prompt": 8, "seed": 1})
    assert refused.value.field == "max_prompt"
    assert str(refused.value) == (
        "unknown evaluation setting(s) 'max_prompt'; evaluation jobs take run_config, samples, seed, judge, split, "
        "max_prompts (did you mean 'max_prompts'?)"
    )
    with pytest.raises(ConfigError, match="playground jobs take run_config, samples, seed, judge, prompts, reference"):
        PlaygroundJob.from_dict({"prompts": ["Hi?"], "split": "test"})
    with pytest.raises(ConfigError, match="a playground job's config is a JSON object"):
        PlaygroundJob.from_dict(["Hi?"])  # type: ignore[arg-type]  # what a broken row could hold


def test_a_legacy_row_is_incomplete_and_rebuilt_over_its_runs_config_with_its_model_on_top():
    """What the worker did on every read before the contracts: the row's run_config over the run's, model last."""
    run_config = CPU_DEMO.replace(temperature=0.3, model="org/run-model").to_dict()
    row = {"run_config": {"max_completion_length": 48, "model": "org/ignored"}, "prompts": ["Hi?"], "seed": 3}
    assert not PlaygroundJob.is_complete(row)
    job = job_from_dict("playground", legacy_values(row, run_config, "org/row-model"))
    assert job == PlaygroundJob(
        run_config=CPU_DEMO.replace(temperature=0.3, max_completion_length=48, model="org/row-model"),
        prompts=("Hi?",),
        seed=3,
    )
    # The oldest rows hold no config at all; a base-model job has no run to start from.
    bare = job_from_dict("evaluation", legacy_values({}, {}, "org/base"))
    assert bare == EvaluationJob(run_config=RunConfig(model="org/base"))


def test_a_legacy_row_keeps_its_faults_for_the_contract_to_name():
    with pytest.raises(ConfigError, match="run_config must be a RunConfig"):
        job_from_dict("evaluation", legacy_values({"run_config": ["x"]}, {}, "m"))
    with pytest.raises(ConfigError, match="unknown evaluation setting\\(s\\) 'max_prompt'"):
        job_from_dict("evaluation", legacy_values({"max_prompt": 8}, {}, "m"))


def test_a_complete_row_is_taken_as_stored_without_a_merge():
    job = EvaluationJob(run_config=CPU_DEMO.replace(model="org/m"), max_prompts=3)
    stored = job.to_dict()
    assert EvaluationJob.is_complete(stored)
    assert not EvaluationJob.is_complete({**stored, "run_config": {"model": "org/m"}})
    assert not EvaluationJob.is_complete({key: value for key, value in stored.items() if key != "judge"})
    assert not PlaygroundJob.is_complete(stored)


def test_job_config_is_a_job_config_and_imports_only_the_standard_library():
    assert all(issubclass(job, JobConfig) for job in (EvaluationJob, PlaygroundJob, MergeJob))
    code = "import sys; import training.job_config; print(' '.join(sys.modules))"
    loaded = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    third_party = {m.split(".")[0] for m in loaded.stdout.split()} - set(sys.stdlib_module_names)
    assert {m for m in third_party if not m.startswith("_")} == {"training"}
