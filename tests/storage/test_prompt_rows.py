"""Prompts keep their example's data row, so the same data point is found in runs with other templates or models;
prompts stored before (revision 0005) are still found by their content key."""

import pytest
from sqlalchemy import create_engine, text

from storage import StorageError, Store
from storage.rows import prompt_key
from tests.helpers import rollout_row
from tests.storage.old_schema import old_run


def running(store, name):
    return store.start_run(store.create_run(name, {}).id, "w")


def test_the_same_row_and_reference_match_across_templates_and_the_content_key_is_the_fallback(store):
    chatml, plain, old = running(store, "chatml"), running(store, "plain"), running(store, "old")
    store.log_step(
        chatml.id,
        1,
        rollouts=[
            rollout_row(0, 0, prompt="<|im_start|>user\nq 3?<|im_end|>", reference="a3", data_row="row 3"),
            rollout_row(1, 0, prompt="<|im_start|>user\nq 4?<|im_end|>", reference="a4", data_row="row 4"),
        ],
    )
    store.log_step(
        plain.id,
        5,
        rollouts=[
            rollout_row(0, 0, prompt="q 4?", reference="a4", data_row="row 4"),
            rollout_row(1, 0, prompt="q 3?", reference="another answer", data_row="row 3"),  # other data
        ],
    )
    # Stored without rows (a run from before), with the very same rendered prompt as chatml's row 4.
    store.log_step(old.id, 2, rollouts=[rollout_row(0, 0, prompt="<|im_start|>user\nq 4?<|im_end|>", reference="a4")])
    by_row = {p.data_row: p for p in store.list_prompts(chatml.id)}
    assert set(by_row) == {"row 3", "row 4"}

    matched = store.find_prompt(plain.id, by_row["row 4"].id)
    assert store.get_rollouts(plain.id, prompt_id=matched)[0].prompt == "q 4?"
    assert store.find_prompt(plain.id, by_row["row 3"].id) is None  # same row, another reference: not the same
    fallback = store.find_prompt(old.id, by_row["row 4"].id)
    assert store.get_rollouts(old.id, prompt_id=fallback)[0].step == 2
    [old_prompt] = store.list_prompts(old.id)
    assert old_prompt.data_row is None and store.find_prompt(chatml.id, old_prompt.id) == by_row["row 4"].id
    assert store.find_prompt(chatml.id, by_row["row 3"].id) == by_row["row 3"].id
    assert store.find_prompt(plain.id, 10**9) is None


def test_a_bad_data_row_is_refused_and_nothing_is_written(store):
    run = running(store, "r")
    with pytest.raises(StorageError, match="data_row must be text of 1 to 64 characters"):
        store.log_step(run.id, 1, metrics={"reward": 1.0}, rollouts=[rollout_row(data_row="x" * 65)])
    assert store.list_prompts(run.id) == [] and store.get_metrics(run.id) == {}


def test_prompts_stored_at_revision_0005_upgrade_without_a_row_and_match_by_content(db_url):
    engine = create_engine(db_url)
    with engine.begin() as connection:
        run = old_run(connection, "0005", step=1)
        connection.execute(
            text("INSERT INTO prompts (run_id, key, prompt, reference) VALUES (:run, :key, 'question 0?', 'answer 0')"),
            {"run": run, "key": prompt_key("question 0?", "answer 0")},
        )
        prompt = connection.execute(text("SELECT id FROM prompts")).scalar_one()
        connection.execute(
            text(
                "INSERT INTO rollouts (run_id, step, group_index, sample_index, prompt_id, completion, reward,"
                " completion_tokens, truncated, format_valid) VALUES (:run, 1, 0, 0, :prompt, 'c', 0.5, 3, :no, :no)"
            ),
            {"run": run, "prompt": prompt, "no": False},
        )
    engine.dispose()
    store = Store(db_url)  # upgrades to head
    new = running(store, "new")
    store.log_step(new.id, 3, rollouts=[rollout_row(0, 0, data_row="row 1")])
    [old_prompt], [new_prompt] = store.list_prompts(run), store.list_prompts(new.id)
    assert (old_prompt.data_row, old_prompt.steps, new_prompt.data_row) == (None, (1,), "row 1")
    assert store.find_prompt(run, new_prompt.id) == old_prompt.id
    assert store.find_prompt(new.id, old_prompt.id) == new_prompt.id
