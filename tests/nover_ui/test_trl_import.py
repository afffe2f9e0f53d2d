"""Importing a plain TRL GRPO run: the folder of a real 2-step GRPOTrainer run (tests/trl_run.py, the `trl_output`
fixture) read into a real SQLite Store, checked against TRL's own files, and shown by Traces and Compare."""

import datetime as dt
import json
import shutil
import zipfile
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import app
from nover_ui.access import Access
from nover_ui.archive import export_run
from nover_ui.compare_view import history_figure, render_comparison
from nover_ui.run_import import import_trl_folder, import_zip
from nover_ui.run_import_view import import_upload
from nover_ui.traces_tab import step_banner
from nover_ui.traces_view import render_step
from nover_ui.trl_folder import TrlFolder, TrlFolderError, TrlLimits
from nover_ui.trl_import import trl_run
from tests.nover_ui.tab_fixtures import build_tabs
from tests.trl_run import PROMPTS, SETTINGS

REWARDS = ("brevity", "mentions_number")


@pytest.fixture
def folder(trl_output, tmp_path) -> Path:
    """A copy of the real run's folder that a test may change."""
    return Path(shutil.copytree(trl_output, tmp_path / "grpo-run"))


def parquet_rows(folder: Path) -> list[dict]:
    return [
        row for path in sorted((folder / "completions").glob("*.parquet")) for row in pq.read_table(path).to_pylist()
    ]


def log_history(folder: Path) -> list[dict]:
    return json.loads((folder / "checkpoint-2" / "trainer_state.json").read_text())["log_history"]


def test_a_real_trl_run_imports_with_trls_rollouts_and_metrics(store, trl_output):
    run, notes = import_trl_folder(store, trl_output)

    assert (run.name, run.status, run.step, run.total_steps, run.tags) == (
        "grpo-run",
        "succeeded",
        2,
        2,
        ("trl-import",),
    )
    rows, rollouts = parquet_rows(trl_output), store.get_rollouts(run.id)
    assert len(rollouts) == len(rows) == SETTINGS["max_steps"] * SETTINGS["per_device_train_batch_size"]
    for row, rollout in zip(rows, rollouts, strict=True):
        assert rollout.step == row["step"]
        assert rollout.prompt == row["prompt"][-1]["content"]  # the last user turn; the conversation in extras
        assert rollout.extras["prompt_messages"] == row["prompt"] and row["prompt"] in PROMPTS
        assert rollout.completion == row["completion"][0]["content"]
        assert rollout.extras["rewards"] == {name: row[name] for name in REWARDS}
        assert rollout.reward == pytest.approx(sum(row[name] for name in REWARDS))  # TRL's default weights, 1 each
        assert rollout.advantage == row["advantage"]
        assert (rollout.reference, rollout.completion_tokens, rollout.truncated) == ("", 0, False)
    # Each step's two completions of one prompt are one group of num_generations.
    assert [(r.group_index, r.sample_index) for r in rollouts] == [(0, 0), (0, 1)] * 2

    series = store.get_metrics(run.id)
    for entry in log_history(trl_output):
        for key, value in entry.items():
            if key != "step":
                assert series[key].values[series[key].steps.index(entry["step"])] == value
    # TRL's `reward` is the mean of the rollouts' summed rewards at that step.
    for step in (1, 2):
        mean = sum(r.reward for r in rollouts if r.step == step) / 2
        assert series["reward"].values[step - 1] == pytest.approx(mean, rel=1e-6)
    assert series["step_time"].steps == series["loss"].steps == (1, 2)
    # Wall times rebuilt from TRL's step_time: the steps lie that far apart.
    wall = series["loss"].wall_times
    assert wall[1] - wall[0] == pytest.approx(series["step_time"].values[1])

    config = run.config
    assert config["model"].endswith("SmolLM2-135M-Instruct")  # adapter_config.json's base model
    assert (config["num_generations"], config["max_steps"], config["checkpoint_steps"]) == (2, 2, 2)
    assert (config["lora_r"], config["lora_alpha"], config["lora_target_modules"]) == (8, 16, "q_proj,v_proj")
    assert config["learning_rate"] == SETTINGS["learning_rate"]
    assert "reward columns mapped: brevity -> component brevity, mentions_number -> component mentions_number" in notes
    assert any("training_args.bin is not read" in note for note in notes)
    assert "reward columns mapped" in run.notes


def test_traces_and_compare_show_an_imported_trl_run(store, trl_output):
    run, _ = import_trl_folder(store, trl_output)
    step_1 = store.get_rollouts(run.id, step=1)
    html = render_step(step_1)
    assert "brevity" in html and "mentions_number" in html  # each reward column as a component
    assert "Name a colour of the sky." in html
    for rollout in step_1:
        assert rollout.completion.replace("'", "&#x27;") in html or rollout.completion in html
    a, b = step_1
    comparison = render_comparison(a, b, "run 1 · step 1 · #0", "run 1 · step 1 · #1")
    assert "Δ reward" in comparison and "No token view" in comparison
    history = store.prompt_history(a.prompt_id)
    assert [h.step for h in history] == [1]
    assert history_figure([("imported", history)]).data[0].y == (max(a.reward, b.reward),)
    # Its completions have no NOVER tags, but it trained on its own rewards: no "no signal" banner. Without the
    # import's tag the same rollouts are judged by the tags, and get it.
    assert not any(r.format_valid for r in store.get_rollouts(run.id)) and step_banner(store, run.id, 1) == ""
    store.set_run_tags(run.id, [])
    assert step_banner(store, run.id, 1).startswith("**No format-valid rollout in this run yet**")


def test_training_args_json_gives_the_reward_weights_and_the_settings(store, folder, trl_output):
    args = json.loads((trl_output.parent / "training_args.json").read_text())
    args["reward_weights"] = [1.0, 0.5]
    (folder / "training_args.json").write_text(json.dumps(args))

    run, notes = import_trl_folder(store, folder)

    for rollout in store.get_rollouts(run.id):
        rewards = rollout.extras["rewards"]
        assert rollout.reward == pytest.approx(rewards["brevity"] + 0.5 * rewards["mentions_number"])
    assert any(
        "reward = 1 × brevity + 0.5 × mentions_number" in note and "training_args.json" in note for note in notes
    )
    config = run.config
    assert (config["max_completion_length"], config["seed"], config["learning_rate"]) == (16, 7, 1e-4)
    assert "per_device_train_batch_size = 2" in run.notes  # TRL's arguments without a field, kept
    assert not any("training_args.bin" in note for note in notes)


def test_what_is_missing_is_said_and_the_rest_imported(store, folder, tmp_path):
    (folder / "completions" / "completions_00001.parquet").unlink()
    run, notes = import_trl_folder(store, folder)
    assert "no completions were logged at steps 1" in notes
    assert {r.step for r in store.get_rollouts(run.id)} == {2} and store.get_metrics(run.id)["loss"].steps == (1, 2)

    only_completions = Path(shutil.copytree(folder, tmp_path / "only completions"))
    shutil.rmtree(only_completions / "checkpoint-2")
    run, notes = import_trl_folder(store, only_completions)
    assert any(note.startswith("no trainer_state.json: no metrics") for note in notes)
    assert store.get_metrics(run.id) == {} and len(store.get_rollouts(run.id)) == 2

    shutil.rmtree(folder / "completions")
    run, notes = import_trl_folder(store, folder)
    assert any(note.startswith("no completions/completions_*.parquet: no rollouts") for note in notes)
    assert store.get_rollouts(run.id) == [] and "reward" in store.get_metrics(run.id)


def _rewrite_completions(folder: Path, change) -> None:
    path = folder / "completions" / "completions_00002.parquet"
    pq.write_table(change(pq.read_table(path)), path)


def _replace_column(name: str, values: pa.Array):
    return lambda table: table.set_column(table.column_names.index(name), name, values)


BREAKS = {
    "no parquet and no trainer_state": (
        lambda f: (shutil.rmtree(f / "completions"), shutil.rmtree(f / "checkpoint-2")),
        "holds neither completions/completions_*.parquet nor a trainer_state.json",
    ),
    "no step column": (
        lambda f: _rewrite_completions(f, lambda t: t.drop_columns(["step"])),
        "completions/completions_00002.parquet has no step column",
    ),
    "no completion column": (
        lambda f: _rewrite_completions(f, lambda t: t.drop_columns(["completion"])),
        "completions/completions_00002.parquet has no completion column",
    ),
    "a reward of text": (
        lambda f: _rewrite_completions(f, _replace_column("brevity", pa.array(["high", "low"]))),
        "column brevity holds string, not numbers, so it cannot be a reward",
    ),
    "a reward column missing": (
        lambda f: _rewrite_completions(f, lambda t: t.drop_columns(["mentions_number"])),
        "has no column for the reward function mentions_number",
    ),
    "unreadable JSON": (
        lambda f: (f / "checkpoint-2" / "trainer_state.json").write_text('{"log_history": [Name a colour'),
        "checkpoint-2/trainer_state.json is not valid JSON (line 1, column 18)",
    ),
    "not Parquet": (
        lambda f: (f / "completions" / "completions_00001.parquet").write_text("What is 2 + 3?"),
        "completions/completions_00001.parquet is not a readable Parquet file",
    ),
}


@pytest.mark.parametrize("broken", BREAKS)
def test_a_malformed_folder_is_refused_with_the_reason_and_nothing_written(store, folder, broken):
    break_it, message = BREAKS[broken]
    break_it(folder)
    with pytest.raises(TrlFolderError) as refused:
        import_trl_folder(store, folder)
    assert message in str(refused.value)
    # Names of files and columns only: no cell of the files is quoted.
    assert not any(text in str(refused.value) for text in ("colour", "2 + 3", "high", "PHOBE"))
    assert store.list_runs() == []


def test_folders_over_the_limits_are_refused_before_their_rows_are_read(store, trl_output):
    with pytest.raises(TrlFolderError, match="holds 4 rollouts, over the 3 one import reads"):
        import_trl_folder(store, trl_output, TrlLimits(max_rows=3))
    with pytest.raises(TrlFolderError, match="over the 0 MB one import reads"):
        import_trl_folder(store, trl_output, TrlLimits(max_bytes=100))
    assert store.list_runs() == []


def zipped(folder: Path, out: Path, extra: dict[str, bytes] | None = None) -> Path:
    """The folder zipped under its own name, as a person zips it, with `extra` members added."""
    with zipfile.ZipFile(out, "w") as archive:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                archive.write(path, f"{folder.name}/{path.relative_to(folder)}")
        for name, data in (extra or {}).items():
            archive.writestr(name, data)
    return out


def test_an_uploaded_zip_of_the_folder_or_of_a_run_archive_imports(store, trl_output, tmp_path):
    uploads = tmp_path / "uploads"
    run, notes = import_zip(store, zipped(trl_output, tmp_path / "upload.zip"), uploads)
    assert run.name == "grpo-run" and len(store.get_rollouts(run.id)) == 4 and notes
    assert list((uploads / "imports").iterdir()) == []  # the unpacked copy is gone: an imported run owns no files

    archive = export_run(store, run.id, tmp_path / "run-1.zip")
    again, notes = import_zip(store, archive, uploads)
    assert again.name == "grpo-run" and len(store.get_rollouts(again.id)) == 4
    assert notes == ["a nover_ui run archive: run #1 of the database that exported it"]


@pytest.mark.parametrize(
    ("extra", "limits", "message"),
    [
        ({"../outside.json": b"{}"}, TrlLimits(), "leads outside its folder"),
        ({"/etc/cron.d/x": b"{}"}, TrlLimits(), "leads outside its folder"),
        ({}, TrlLimits(max_members=5), "over the 5 an import reads"),
    ],
)
def test_a_zip_leading_outside_or_over_its_limits_is_refused(store, trl_output, tmp_path, extra, limits, message):
    uploads = tmp_path / "uploads"
    with pytest.raises(TrlFolderError, match=message):
        import_zip(store, zipped(trl_output, tmp_path / "upload.zip", extra), uploads, limits)
    assert store.list_runs() == [] and not (tmp_path / "outside.json").exists()
    (tmp_path / "junk.zip").write_bytes(b"PK not a zip")
    with pytest.raises(TrlFolderError, match="junk.zip is not a readable zip file"):
        import_zip(store, tmp_path / "junk.zip", uploads)


def test_app_imports_a_trl_folder_from_the_command_line(trl_output, tmp_path, capsys):
    assert app.main(["--home", str(tmp_path), "--import-trl", str(trl_output)]) == 0
    out = capsys.readouterr()
    assert out.out.strip() == "1" and "reward columns mapped" in out.err
    assert app.main(["--home", str(tmp_path), "--import-trl", str(tmp_path / "missing")]) == 2
    assert "is not a folder: give the output_dir of a TRL GRPO run" in capsys.readouterr().err


def test_the_runs_tab_imports_an_uploaded_zip_for_writers_only(store, trl_output, tmp_path):
    read_only = build_tabs(store, tmp_path, Access(read_only=True))
    refused = read_only.runs.run_import
    upload = zipped(trl_output, tmp_path / "grpo-run.zip")
    updates = import_upload(str(upload), None, dashboard=read_only.dashboard, view=refused)
    assert updates[refused.result_md].startswith("**Import refused:** this dashboard is read\\-only")
    assert store.list_runs() == [] and not upload.exists()  # a refused upload leaves Gradio's cache at once

    built = build_tabs(store, tmp_path)
    view = built.runs.run_import
    upload = zipped(trl_output, tmp_path / "grpo-run.zip")
    updates = import_upload(str(upload), None, dashboard=built.dashboard, view=view)
    assert updates[view.result_md].startswith("Imported as run **#1** (grpo\\-run).\n- reward columns mapped")
    assert updates[view.version_state] == store.runs_version()  # the table redraws with the new run
    assert [run.name for run in store.list_runs()] == ["grpo-run"] and not upload.exists()


def test_groups_are_runs_of_one_prompt_cut_to_the_group_size_and_missing_rewards_are_skipped():
    """TRL orders a generation batch as each prompt's completions in a row; a prompt drawn twice in one batch gives
    a run twice as long, cut in two by the greatest common divisor of the runs' lengths."""
    prompts = ["a", "a", "b", "b", "b", "b"]
    rewards = [(1.0, 0.5), (0.0, None), (None, None), (1.0, 1.0), (0.5, 0.0), (0.0, 0.0)]
    rows = [
        {"step": 3, "prompt": p, "completion": f"c{i}", "r1": r1, "r2": r2, "advantage": 0.0}
        for i, (p, (r1, r2)) in enumerate(zip(prompts, rewards, strict=True))
    ]
    folder = TrlFolder("x", ("completions/completions_00003.parquet",), rows, ("r1", "r2"), (), *[None] * 6, False)
    mapped = trl_run(folder, dt.datetime.now(dt.UTC))
    places = [(r["group_index"], r["sample_index"]) for r in mapped.rollouts]
    assert places == [(0, 0), (0, 1), (1, 0), (1, 1), (2, 0), (2, 1)]
    assert [r["reward"] for r in mapped.rollouts] == [1.5, 0.0, 0.0, 2.0, 0.5, 0.0]
    assert mapped.rollouts[2]["extras"]["rewards"] == {"r1": None, "r2": None}
    assert "1 rollout(s) have no value from any reward function: their reward is stored as 0" in mapped.notes
    assert mapped.run["config"]["num_generations"] == 2
