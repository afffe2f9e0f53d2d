import dataclasses
import io
import json
import zipfile
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import sqlalchemy

import app
from nover_ui.archive import ROLLOUT_SCHEMA, RUN_SCHEMA, ArchiveError, export_run, import_run
from storage import StorageError, Store
from storage.models import Base
from storage.rows import IMPORTED_RUN_KEYS, ROLLOUT_KEYS
from tests.helpers import rollout_row


@pytest.fixture
def fresh(tmp_path):
    store = Store(f"sqlite:///{tmp_path / 'fresh.db'}")
    yield store
    store.close()


def total_rows(store: Store) -> int:
    engine = sqlalchemy.create_engine(store.url)
    with engine.connect() as connection:
        total = sum(
            connection.execute(sqlalchemy.select(sqlalchemy.func.count()).select_from(table)).scalar()
            for table in Base.metadata.sorted_tables
        )
    engine.dispose()
    return total


def finished_run(store: Store, status: str = "succeeded") -> int:
    """A resumed run with two steps of metrics and rollouts whose values probe every column's edge cases."""
    parent = store.create_run("parent", {})
    run = store.create_run(
        "edge cases ✓", {"max_steps": 2, "learning_rate": 1e-5, "tags": ["a", None]}, parent_id=parent.id
    )
    store.start_run(run.id, "host:123")
    store.set_run_command(run.id, "python -m training.run --set max_steps=2")
    store.set_run_tags(run.id, ["baseline", "ünï <b>x</b>"])
    store.set_run_notes(run.id, "tried\na longer completion")
    for step in (1, 2):
        rows = [
            rollout_row(0, 0, extras={"nll": [0.1 + 0.2, 1e-300], "note": "ünï <b>x</b>\n", "n": None}),
            rollout_row(
                0,
                1,
                reasoning=None,
                answer=None,
                perplexity=None,
                reasoning_tokens=None,
                reward_format=None,
                advantage=None,
                extras=None,
                format_valid=False,
                truncated=True,
                flags=["truncated", "missing tags"],
                flags_version=1,
            ),
            rollout_row(
                1, 0, perplexity=float("inf"), reward=-0.0, completion="line\n\ttab 🙂", flags=[], flags_version=1
            ),
        ]
        store.log_step(run.id, step, {"reward": step / 3, "loss": 1e-12 * step, "kl": -5.5}, rows)
    store.heartbeat(run.id, step=2, total_steps=2)
    if status != "running":
        store.finish_run(run.id, status, "boom\nTraceback" if status == "failed" else None)
    store.set_generation_server_log(run.id, "INFO vLLM <ready>\nWARNING ünï")
    return run.id


def without_ids(record) -> dict:
    return {key: value for key, value in dataclasses.asdict(record).items() if key not in ("id", "run_id", "prompt_id")}


def test_a_run_comes_back_as_a_new_run_with_every_value(store, fresh, tmp_path):
    run_id = finished_run(store, "failed")
    path = export_run(store, run_id, tmp_path / "run.zip")
    fresh.create_run("already here", {})
    imported, source = import_run(fresh, path)

    assert (imported.id, source["source_id"], source["source_parent_id"]) == (2, run_id, 1)
    original = store.get_run(run_id)
    assert fresh.get_run(imported.id) == dataclasses.replace(
        original, id=imported.id, parent_id=None, heartbeat_at=None
    )
    assert fresh.get_metrics(imported.id) == store.get_metrics(run_id)
    assert [without_ids(r) for r in fresh.get_rollouts(imported.id)] == [
        without_ids(r) for r in store.get_rollouts(run_id)
    ]
    assert len(fresh.list_prompts(imported.id)) == 2  # stored once per run, as by the worker


@pytest.mark.parametrize("status", ["queued", "running"])
def test_a_run_exported_while_queued_or_running_is_imported_as_failed(store, fresh, tmp_path, status):
    run_id = store.create_run("waiting", {}).id if status == "queued" else finished_run(store, "running")
    imported, _ = import_run(fresh, export_run(store, run_id, tmp_path / "run.zip"))
    assert imported.status == "failed" and imported.finished_at is not None
    assert f"while the run was {status}" in imported.error and "cannot continue here" in imported.error


def test_an_archive_written_before_stored_flags_imports_with_flags_not_computed(store, fresh, tmp_path):
    path = export_run(store, finished_run(store), tmp_path / "run.zip")
    rewrite(path, "rollouts.parquet", lambda t: t.drop_columns(["flags", "flags_version"]))
    imported, _ = import_run(fresh, path)
    assert {(r.flags, r.flags_version) for r in fresh.get_rollouts(imported.id)} == {(None, None)}
    assert len(fresh.flag_backlog(1)) == 2  # both steps, for the start-up backfill


def rewrite(path: Path, member: str, change) -> None:
    """Replace one member of the archive by change(its table): a table, raw bytes, or None to drop it."""
    with zipfile.ZipFile(path) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    new = change(pq.read_table(io.BytesIO(members[member])))
    if new is None:
        del members[member]
    elif isinstance(new, bytes):
        members[member] = new
    else:
        buffer = io.BytesIO()
        pq.write_table(new, buffer)
        members[member] = buffer.getvalue()
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)


def set_column(table: pa.Table, name: str, values: list) -> pa.Table:
    return table.set_column(table.schema.get_field_index(name), name, pa.array(values))


BAD_FILES = {
    "not a zip": (lambda p: p.write_bytes(b"hello"), "not a zip archive"),
    "truncated": (lambda p: p.write_bytes(p.read_bytes()[: len(p.read_bytes()) // 2]), "or it is truncated"),
    "foreign zip": (lambda p: zipfile.ZipFile(p, "w").close(), "has no run.parquet"),
    "missing table": (lambda p: rewrite(p, "rollouts.parquet", lambda t: None), "has no rollouts.parquet"),
    "renamed column": (
        lambda p: rewrite(p, "metrics.parquet", lambda t: t.rename_columns(["key", "step", "val", "wall_time"])),
        r"metrics.parquet has the wrong columns: missing \['value'\], unexpected \['val'\]",
    ),
    "wrong type": (
        lambda p: rewrite(p, "rollouts.parquet", lambda t: set_column(t, "step", ["x"] * len(t))),
        "rollouts.parquet: column step is string, expected int64",
    ),
    "empty required value": (
        lambda p: rewrite(p, "rollouts.parquet", lambda t: set_column(t, "completion", [None] * len(t))),
        "column completion has 6 empty value",
    ),
    "corrupt Parquet": (
        lambda p: rewrite(p, "metrics.parquet", lambda t: b"PAR1 not really"),
        "metrics.parquet is not a readable Parquet file",
    ),
    "bad JSON": (
        lambda p: rewrite(p, "rollouts.parquet", lambda t: set_column(t, "extras", ["{oops"] * len(t))),
        "rollouts.parquet row 0: extras is not JSON",
    ),
    "two runs": (lambda p: rewrite(p, "run.parquet", lambda t: pa.concat_tables([t, t])), "holds 2 rows"),
    "newer version": (
        lambda p: rewrite(p, "run.parquet", lambda t: set_column(t, "archive_version", [2])),
        "archive version 2; this nover_ui reads version 1",
    ),
    "duplicate metric": (
        lambda p: rewrite(p, "metrics.parquet", lambda t: pa.concat_tables([t, t])),
        "holds step 1 of 'kl' twice",
    ),
    # Values that would break or slow reads for every client (the API's JSON cannot hold integers over 64 bits).
    "huge integer in config": (
        lambda p: rewrite(
            p, "run.parquet", lambda t: set_column(t, "config", ['{"max_steps": 1000000000000000000000000000000}'])
        ),
        "config holds an integer beyond 64 bits",
    ),
    "huge integer in extras": (
        lambda p: rewrite(
            p, "rollouts.parquet", lambda t: set_column(t, "extras", ['{"n": [-1e3, 100000000000000000000]}'] * len(t))
        ),
        "extras holds an integer beyond 64 bits",
    ),
    "huge config": (
        lambda p: rewrite(p, "run.parquet", lambda t: set_column(t, "config", [json.dumps({"model": "x" * 10**6})])),
        "config has over 65,536 characters",
    ),
    "long name": (
        lambda p: rewrite(p, "run.parquet", lambda t: set_column(t, "name", ["n" * 201])),
        "name has 201 characters, over the 200",
    ),
    "long metric key": (
        lambda p: rewrite(p, "metrics.parquet", lambda t: set_column(t, "key", ["k" * 201] * len(t))),
        "a metric key has 201 characters",
    ),
}


@pytest.mark.parametrize("problem", BAD_FILES)
def test_a_bad_file_is_refused_by_name_and_writes_nothing(store, fresh, tmp_path, problem):
    path = export_run(store, finished_run(store), tmp_path / "run.zip")
    spoil, message = BAD_FILES[problem]
    spoil(path)
    with pytest.raises(ArchiveError, match=message):
        import_run(fresh, path)
    assert total_rows(fresh) == 0


def test_a_failure_inside_the_import_transaction_writes_nothing(store, fresh, tmp_path):
    path = export_run(store, finished_run(store), tmp_path / "run.zip")
    rewrite(path, "run.parquet", lambda t: set_column(t, "status", ["paused"]))
    with pytest.raises(StorageError, match="status must be one of"):
        import_run(fresh, path)
    # The database itself refuses the last write (a metric step twice) after the run and rollouts went in.
    run = {"name": "r", "status": "succeeded", "config": {}, "created_at": store.get_run(1).created_at}
    metric = {"key": "reward", "step": 1, "value": 1.0, "wall_time": 0.0}
    with pytest.raises(StorageError, match="(?i)unique constraint"):
        fresh.import_run(run, [metric, metric], [{**rollout_row(), "step": 1}])
    assert total_rows(fresh) == 0


def test_the_archive_holds_every_stored_field():
    # A field added to runs or rollouts must be added to the archive too, or a round trip would drop it.
    assert set(ROLLOUT_SCHEMA.names) == ROLLOUT_KEYS | {"step"}
    assert set(RUN_SCHEMA.names) == IMPORTED_RUN_KEYS | {"archive_version", "source_id", "source_parent_id"}


def test_app_exports_and_imports_from_the_command_line(tmp_path, capsys):
    source, target = tmp_path / "source", tmp_path / "target"
    source.mkdir()
    store = Store(f"sqlite:///{source / 'nover_ui.db'}")
    run_id = finished_run(store)
    store.close()
    out = tmp_path / "exported.zip"
    assert app.main(["--home", str(source), "--export", str(run_id), "--out", str(out)]) == 0
    assert capsys.readouterr().out.strip() == str(out)
    assert app.main(["--home", str(target), "--import", str(out)]) == 0
    assert capsys.readouterr().out.strip() == "1"

    assert app.main(["--home", str(source), "--export", "99"]) == 2
    assert "run 99 does not exist" in capsys.readouterr().err
    out.write_bytes(b"not an archive")
    assert app.main(["--home", str(target), "--import", str(out)]) == 2
    assert "not a zip archive written by --export" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        app.parse_settings(["--out", "x.zip"], env={})
    assert "give --export RUN_ID too" in capsys.readouterr().err
