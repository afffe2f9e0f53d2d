"""The Store's reads for the dashboard: search, step range, the cheap polls, the latest metric values."""

from tests.helpers import rollout_row, step_rows


def running_run(store, name="r"):
    run = store.create_run(name, {})
    return store.start_run(run.id, "w")


def test_search_rollouts_matches_case_insensitively_and_escapes_wildcards(store):
    run = running_run(store)
    store.log_step(
        run.id,
        1,
        rollouts=[
            rollout_row(0, 0, completion="The CAT sat"),
            rollout_row(0, 1, completion="100% sure"),
            rollout_row(0, 2, completion="1000 sure"),
        ],
    )
    store.log_step(run.id, 2, rollouts=[rollout_row(0, 0, completion="a cat again")])
    hits = store.search_rollouts(run.id, "cat")
    assert [(h.step, h.completion) for h in hits] == [(1, "The CAT sat"), (2, "a cat again")]
    assert [h.completion for h in store.search_rollouts(run.id, "0%")] == ["100% sure"]  # % is literal
    assert store.search_rollouts(run.id, "c_t") == []  # _ is literal
    assert len(store.search_rollouts(run.id, "sure", limit=1)) == 1
    other = running_run(store, "other")
    assert store.search_rollouts(other.id, "cat") == []


def test_rollout_steps_is_the_first_and_last_step_with_rollouts(store):
    run = running_run(store)
    assert store.rollout_steps(run.id) is None
    for step in (2, 5, 3):
        store.log_step(run.id, step, rollouts=step_rows(1, 2))
    store.log_step(run.id, 9, metrics={"loss": 1.0})
    assert store.rollout_steps(run.id) == (2, 5)


def test_format_valid_counts_are_valid_and_all_rollouts_per_step(store):
    run = running_run(store)
    assert store.format_valid_counts(run.id) == {}
    store.log_step(
        run.id,
        1,
        rollouts=[rollout_row(0, 0, format_valid=False), rollout_row(0, 1, format_valid=False)],
    )
    store.log_step(
        run.id,
        2,
        rollouts=[rollout_row(0, 0, format_valid=True), rollout_row(0, 1, format_valid=False)],
    )
    store.log_step(run.id, 3, metrics={"loss": 1.0})  # a step without rollouts is not counted
    assert store.format_valid_counts(run.id) == {1: (0, 2), 2: (1, 2)}
    assert store.format_valid_counts(running_run(store, "other").id) == {}


def test_run_steps_reports_each_runs_heartbeat_step(store):
    first, second = running_run(store, "a"), running_run(store, "b")
    store.log_step(first.id, 3, metrics={"loss": 1.0}, total_steps=10, heartbeat=True)
    assert store.run_steps([first.id, second.id]) == {first.id: 3, second.id: 0}
    assert store.run_steps([]) == {}


def test_latest_metrics_are_the_points_at_the_highest_steps_oldest_first(store):
    first, second = running_run(store, "a"), running_run(store, "b")
    for step, value in ((1, 30.0), (4, 10.0), (2, 20.0), (3, 40.0)):
        store.log_step(first.id, step, metrics={"step_time": value, "loss": -step})
    latest = store.latest_metrics([first.id, second.id], "step_time")
    assert list(latest) == [first.id] and (latest[first.id].steps, latest[first.id].values) == ((4,), (10.0,))
    recent = store.latest_metrics([first.id], "step_time", last=3)[first.id]
    assert (recent.key, recent.steps, recent.values) == ("step_time", (2, 3, 4), (20.0, 40.0, 10.0))
    assert len(recent.wall_times) == 3 and min(recent.wall_times) > 0


def test_get_metrics_since_a_step_returns_only_the_new_points(store):
    run = running_run(store)
    for step in (1, 2, 3):
        store.log_step(run.id, step, metrics={"reward": step / 2, "loss": -step})
    recent = store.get_metrics(run.id, since_step=2)
    assert {key: (s.steps, s.values) for key, s in recent.items()} == {
        "reward": ((2, 3), (1.0, 1.5)),
        "loss": ((2, 3), (-2.0, -3.0)),
    }
    assert store.get_metrics(run.id, keys=["loss"], since_step=4) == {}


def test_prompts_of_a_run_their_history_and_the_same_prompt_in_another_run(store):
    run, other = running_run(store, "a"), running_run(store, "b")
    for step in (1, 2):
        store.log_step(
            run.id,
            step,
            rollouts=[
                rollout_row(0, 0, reward=1.0 * step, reasoning_tokens=4),
                rollout_row(0, 1, reward=3.0 * step, reasoning_tokens=8, format_valid=False, perplexity=None),
                rollout_row(1, 0, reward=0.5),
            ],
        )
    store.log_step(other.id, 1, rollouts=[rollout_row(0, 0)])
    prompts = store.list_prompts(run.id)
    assert [(p.prompt, p.rollouts, p.steps) for p in prompts] == [
        ("question 0?", 4, (1, 2)),
        ("question 1?", 2, (1, 2)),
    ]
    history = store.prompt_history(prompts[0].id)
    assert [
        (h.step, h.rollouts, h.format_valid, h.best_reward, h.mean_reward, h.mean_reasoning_tokens) for h in history
    ] == [(1, 2, 1, 3.0, 2.0, 6.0), (2, 2, 1, 6.0, 4.0, 6.0)]
    assert {type(h.mean_reasoning_tokens) for h in history} == {float}  # not PostgreSQL's Decimal
    same = store.find_prompt(other.id, prompts[0].id)
    assert same is not None and same != prompts[0].id
    assert store.get_rollouts(other.id, prompt_id=same)[0].prompt == "question 0?"
    assert store.find_prompt(other.id, prompts[1].id) is None


def test_runs_version_moves_with_every_change_the_runs_table_shows_and_not_with_a_bare_heartbeat(store):
    versions = [store.runs_version()]

    def changed() -> bool:
        versions.append(store.runs_version())
        return versions[-1] != versions[-2]

    run = store.create_run("r", {})
    assert changed()
    store.claim_next_run("w")
    assert changed()
    store.heartbeat(run.id, step=0, total_steps=4)  # planned steps appear before the first step
    assert changed()
    store.heartbeat(run.id)
    assert not changed()
    store.set_run_command(run.id, "python -m training.run")
    assert changed()
    store.set_phase(run.id, "loading the model")
    assert changed()
    store.set_phase(run.id, "converting the model")  # as many runs in a phase as before, and as long a text
    assert changed()
    store.set_phase(run.id, "converting the model")
    assert not changed()
    store.set_phase(run.id, None)
    assert changed()
    store.log_step(run.id, 1, metrics={"step_time": 2.0}, heartbeat=True)
    assert changed()
    store.request_cancel(run.id)  # "cancelling" shows at once
    assert changed()
    store.finish_run(run.id, "failed", "boom")
    assert changed()
    other = store.create_run("other", {})
    assert changed()
    store.delete_run(other.id)
    assert changed()
    assert not changed()


def test_has_format_valid_says_whether_any_rollout_of_the_run_is(store):
    run, other = running_run(store, "a"), running_run(store, "b")
    assert not store.has_format_valid(run.id)
    store.log_step(run.id, 1, rollouts=[rollout_row(0, 0, format_valid=False), rollout_row(0, 1, format_valid=False)])
    store.log_step(other.id, 1, rollouts=[rollout_row(0, 0)])
    assert not store.has_format_valid(run.id) and store.has_format_valid(other.id)
    store.log_step(run.id, 2, rollouts=[rollout_row(0, 0)])
    assert store.has_format_valid(run.id)
