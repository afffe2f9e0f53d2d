"""A database written at the first schema revision keeps every row and value when the Store upgrades it."""

import datetime as dt

from alembic import command
from sqlalchemy import create_engine, inspect, text

from storage import Store
from storage.migrate import alembic_config, current_revision, head_revision
from storage.rows import prompt_key

FIRST_REVISION = "0001"
UTC = dt.UTC
CREATED = dt.datetime(2025, 1, 2, 3, 4, 5, 250000, tzinfo=UTC)
STARTED = dt.datetime(2025, 1, 2, 3, 5, 0, tzinfo=UTC)
FINISHED = dt.datetime(2025, 1, 2, 4, 0, 0, 999999, tzinfo=UTC)
# Timestamps as an old version wrote them: naive UTC, in a string both backends parse.
SQL_TIME = {
    name: value.strftime("%Y-%m-%d %H:%M:%S.%f")
    for name, value in (("created", CREATED), ("started", STARTED), ("finished", FINISHED))
}
CONFIG = '{"model": "m", "max_steps": 3, "nested": {"list": [1, 2.5, null], "text": "\\u00e9t\\u00e9"}}'
PROMPT, REFERENCE = "What is 2+2? It's «easy».", "4"
COMPLETION = "<think>two and two</think><answer>4</answer>"


def first_revision_database(url: str) -> None:
    """The schema of revision 0001 with rows in each of its tables, written with plain SQL."""
    engine = create_engine(url)
    with engine.begin() as connection:
        config = alembic_config()
        config.attributes["connection"] = connection
        command.upgrade(config, FIRST_REVISION)
    assert set(inspect(engine).get_table_names()) - {"alembic_version"} == {
        "runs",
        "metrics",
        "prompts",
        "rollouts",
        "checkpoints",
        "evaluations",
        "evaluation_samples",
    }
    with engine.begin() as connection:

        def insert(sql: str, **values) -> None:
            connection.execute(text(sql), values)

        def id_of(table: str, column: str, value) -> int:
            return connection.execute(text(f"SELECT id FROM {table} WHERE {column} = :v"), {"v": value}).scalar_one()

        insert(
            "INSERT INTO runs (name, status, config, created_at, started_at, finished_at, heartbeat_at, worker_id,"
            " cancel_requested, error, step, total_steps) VALUES ('parent', 'failed', :config, :created, :started,"
            " :finished, :finished, 'host:12', :yes, 'ValueError: boom', 2, 3)",
            config=CONFIG,
            yes=True,
            **SQL_TIME,
        )
        parent = id_of("runs", "name", "parent")
        insert(
            "INSERT INTO runs (name, status, config, created_at, cancel_requested, step, parent_id)"
            " VALUES ('child', 'queued', '{}', :created, :no, 0, :parent)",
            no=False,
            parent=parent,
            created=SQL_TIME["created"],
        )
        for step, value in ((1, 0.5), (2, -1.25)):
            insert(
                "INSERT INTO metrics (run_id, step, key, value, wall_time) VALUES (:run, :step, 'reward', :value, "
                ":wall)",
                run=parent,
                step=step,
                value=value,
                wall=1735787045.5 + step,
            )
        insert(
            "INSERT INTO prompts (run_id, key, prompt, reference) VALUES (:run, :key, :prompt, :reference)",
            run=parent,
            key=prompt_key(PROMPT, REFERENCE),
            prompt=PROMPT,
            reference=REFERENCE,
        )
        prompt = id_of("prompts", "run_id", parent)
        insert(
            "INSERT INTO rollouts (run_id, step, group_index, sample_index, prompt_id, completion, reasoning,"
            " answer, reward, reward_format, reward_reasoning, reward_efficiency, perplexity, reasoning_tokens,"
            " completion_tokens, advantage, truncated, format_valid, extras) VALUES (:run, 2, 0, 1, :prompt,"
            " :completion, 'two and two', '4', 2.5, 1.0, 0.75, 0.5, 3.125, 3, 12, -0.5, :no, :yes, :extras)",
            run=parent,
            prompt=prompt,
            completion=COMPLETION,
            no=False,
            yes=True,
            extras='{"nll": [0.5, 1.25]}',
        )
        insert(
            "INSERT INTO rollouts (run_id, step, group_index, sample_index, prompt_id, completion, reward,"
            " completion_tokens, truncated, format_valid) VALUES (:run, 2, 0, 0, :prompt, 'no tags', 0.0, 64, :yes,"
            " :no)",
            run=parent,
            prompt=prompt,
            no=False,
            yes=True,
        )
        insert(
            "INSERT INTO checkpoints (run_id, step, path, created_at) VALUES (:run, 2, '/runs/1/checkpoint-2',"
            " :finished)",
            run=parent,
            finished=SQL_TIME["finished"],
        )
        insert(
            "INSERT INTO evaluations (run_id, model, checkpoint_step, dataset, status, metrics, error, created_at,"
            " finished_at) VALUES (:run, 'base-model', 2, 'gt.csv:test', 'succeeded', :metrics, NULL, :created,"
            " :finished)",
            run=parent,
            metrics='{"format_valid_rate": 0.5, "verifier_accuracy": null}',
            created=SQL_TIME["created"],
            finished=SQL_TIME["finished"],
        )
        evaluation = id_of("evaluations", "run_id", parent)
        insert(
            "INSERT INTO evaluation_samples (evaluation_id, sample_index, prompt, reference, completion, reasoning,"
            " answer, format_valid, perplexity, correct, extras) VALUES (:evaluation, 0, :prompt, :reference,"
            " :completion, 'two and two', '4', :yes, 1.5, :yes, :extras)",
            evaluation=evaluation,
            prompt=PROMPT,
            reference=REFERENCE,
            completion=COMPLETION,
            yes=True,
            extras='{"seed": 7}',
        )
        insert(
            "INSERT INTO evaluation_samples (evaluation_id, sample_index, prompt, reference, completion,"
            " format_valid) VALUES (:evaluation, 1, 'q', '', 'c', :no)",
            evaluation=evaluation,
            no=False,
        )
    engine.dispose()


def test_rows_written_at_the_first_revision_are_kept_and_readable_at_head(db_url):
    first_revision_database(db_url)
    store = Store(db_url)  # upgrades to head
    assert current_revision(store._engine) == head_revision()
    child, parent = store.list_runs()
    assert (
        parent.name,
        parent.status,
        parent.config,
        parent.created_at,
        parent.started_at,
        parent.finished_at,
        parent.heartbeat_at,
        parent.worker_id,
        parent.cancel_requested,
        parent.error,
        parent.step,
        parent.total_steps,
        parent.parent_id,
    ) == (
        "parent",
        "failed",
        {"model": "m", "max_steps": 3, "nested": {"list": [1, 2.5, None], "text": "été"}},
        CREATED,
        STARTED,
        FINISHED,
        FINISHED,
        "host:12",
        True,
        "ValueError: boom",
        2,
        3,
        None,
    )
    assert (
        child.name,
        child.status,
        child.config,
        child.created_at,
        child.started_at,
        child.worker_id,
        child.cancel_requested,
        child.error,
        child.step,
        child.total_steps,
        child.parent_id,
    ) == ("child", "queued", {}, CREATED, None, None, False, None, 0, None, parent.id)

    reward = store.get_metrics(parent.id)["reward"]
    assert (reward.steps, reward.values, reward.wall_times) == ((1, 2), (0.5, -1.25), (1735787046.5, 1735787047.5))

    [prompt] = store.list_prompts(parent.id)
    assert (prompt.prompt, prompt.reference, prompt.key, prompt.rollouts) == (
        PROMPT,
        REFERENCE,
        prompt_key(PROMPT, REFERENCE),
        2,
    )
    invalid, valid = store.get_rollouts(parent.id, step=2)
    assert {
        name: getattr(valid, name)
        for name in (
            "run_id",
            "step",
            "group_index",
            "sample_index",
            "prompt_id",
            "prompt",
            "reference",
            "completion",
            "reasoning",
            "answer",
            "reward",
            "reward_format",
            "reward_reasoning",
            "reward_efficiency",
            "perplexity",
            "reasoning_tokens",
            "completion_tokens",
            "advantage",
            "truncated",
            "format_valid",
            "extras",
        )
    } == dict(
        run_id=parent.id,
        step=2,
        group_index=0,
        sample_index=1,
        prompt_id=prompt.id,
        prompt=PROMPT,
        reference=REFERENCE,
        completion=COMPLETION,
        reasoning="two and two",
        answer="4",
        reward=2.5,
        reward_format=1.0,
        reward_reasoning=0.75,
        reward_efficiency=0.5,
        perplexity=3.125,
        reasoning_tokens=3,
        completion_tokens=12,
        advantage=-0.5,
        truncated=False,
        format_valid=True,
        extras={"nll": [0.5, 1.25]},
    )
    assert (
        invalid.sample_index,
        invalid.completion,
        invalid.reasoning,
        invalid.perplexity,
        invalid.reward,
        invalid.completion_tokens,
        invalid.truncated,
        invalid.format_valid,
        invalid.extras,
    ) == (0, "no tags", None, None, 0.0, 64, True, False, None)
    # Rollouts from before stored flags have none, and are what the start-up backfill lists.
    assert [(r.flags, r.flags_version) for r in (invalid, valid)] == [(None, None), (None, None)]
    assert store.flag_backlog(1) == [(parent.id, 2)]

    [checkpoint] = store.list_checkpoints(parent.id)
    assert (checkpoint.step, checkpoint.path, checkpoint.created_at) == (2, "/runs/1/checkpoint-2", FINISHED)

    [evaluation] = store.list_evaluations()
    assert (
        evaluation.run_id,
        evaluation.model,
        evaluation.checkpoint_step,
        evaluation.dataset,
        evaluation.status,
        evaluation.metrics,
        evaluation.error,
        evaluation.created_at,
        evaluation.finished_at,
    ) == (
        parent.id,
        "base-model",
        2,
        "gt.csv:test",
        "succeeded",
        {"format_valid_rate": 0.5, "verifier_accuracy": None},
        None,
        CREATED,
        FINISHED,
    )
    # Columns later revisions added take their defaults on old rows.
    assert (
        evaluation.kind,
        evaluation.config,
        evaluation.worker_id,
        evaluation.started_at,
        evaluation.heartbeat_at,
    ) == ("evaluation", None, None, None, None)
    full, bare = store.get_evaluation_samples(evaluation.id)
    assert (
        full.prompt,
        full.reference,
        full.completion,
        full.reasoning,
        full.answer,
        full.format_valid,
        full.perplexity,
        full.correct,
        full.extras,
    ) == (PROMPT, REFERENCE, COMPLETION, "two and two", "4", True, 1.5, True, {"seed": 7})
    assert (bare.sample_index, bare.reasoning, bare.format_valid, bare.perplexity, bare.correct, bare.extras) == (
        1,
        None,
        False,
        None,
        None,
        None,
    )

    # The upgraded database takes new rows: fresh ids (PostgreSQL's sequences kept up), the old prompt reused.
    assert store.create_run("new", {}).id > child.id
    store.log_rollouts(
        parent.id,
        3,
        [
            dict(
                group_index=0,
                sample_index=0,
                prompt=PROMPT,
                reference=REFERENCE,
                completion="c",
                reward=0.0,
                completion_tokens=1,
            )
        ],
    )
    assert store.get_rollouts(parent.id, step=3)[0].prompt_id == prompt.id
    store.close()
