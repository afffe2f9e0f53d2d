"""Experiments queue their grid of runs at once; a run's name, tags and notes are the person's to change."""

import pytest

from storage import ExperimentNotFound, RunNotFound, Status, StorageError, Store


def test_an_experiment_queues_all_its_runs_in_one_go_and_lists_them_in_grid_order(store: Store):
    settings = {"recipes": ["nover", "rlpr"], "seeds": 2}
    experiment = store.create_experiment(
        " recipes on my data ",
        settings,
        [(f"exp · {r} · seed {s}", {"seed": s}) for r in ("nover", "rlpr") for s in (1, 2)],
    )
    assert (experiment.name, experiment.settings, len(experiment.run_ids)) == ("recipes on my data", settings, 4)
    runs = store.experiment_runs(experiment.id)
    assert [run.id for run in runs] == list(experiment.run_ids) == sorted(experiment.run_ids)
    assert {run.status for run in runs} == {Status.QUEUED}
    assert [run.config["seed"] for run in runs] == [1, 2, 1, 2]
    alone = store.create_run("alone", {})
    assert [run.id for run in store.list_runs(experiment_id=experiment.id)] == sorted(experiment.run_ids, reverse=True)
    assert alone.experiment_id is None and runs[0].experiment_id == experiment.id
    assert [e.id for e in store.list_experiments()] == [experiment.id]
    assert store.get_experiment(experiment.id) == experiment


def test_a_refused_experiment_writes_nothing(store: Store):
    with pytest.raises(StorageError, match="at least one run"):
        store.create_experiment("empty", {}, [])
    with pytest.raises(StorageError, match="non-empty name"):
        store.create_experiment("bad run", {}, [("ok", {}), ("  ", {})])
    with pytest.raises(StorageError, match="at most 200"):
        store.create_experiment("x" * 201, {}, [("ok", {})])
    assert store.list_experiments() == [] and store.list_runs() == []
    with pytest.raises(ExperimentNotFound):
        store.experiment_runs(99)


def test_rename_tags_and_notes_change_the_run_and_the_runs_version(store: Store):
    run = store.create_run("first name", {})
    before = store.runs_version()
    assert store.rename_run(run.id, "  better name ").name == "better name"
    renamed = store.runs_version()
    assert renamed != before
    tagged = store.set_run_tags(run.id, [" baseline", "", "lr-sweep", "baseline"])
    assert tagged.tags == ("baseline", "lr-sweep") and store.runs_version() != renamed
    assert store.set_run_notes(run.id, "  tried a longer completion  ").notes == "tried a longer completion"
    assert store.get_run(run.id).tags == ("baseline", "lr-sweep")
    assert store.set_run_notes(run.id, "   ").notes is None
    assert store.set_run_tags(run.id, []).tags == ()


def test_bad_names_tags_and_notes_are_refused_and_change_nothing(store: Store):
    run = store.create_run("kept", {})
    store.set_run_tags(run.id, ["kept-tag"])
    version = store.runs_version()
    for change in (
        lambda: store.rename_run(run.id, " "),
        lambda: store.set_run_tags(run.id, ["a,b"]),
        lambda: store.set_run_tags(run.id, ["t" * 41]),
        lambda: store.set_run_tags(run.id, [f"t{i}" for i in range(21)]),
        lambda: store.set_run_notes(run.id, "n" * 10_001),
    ):
        with pytest.raises(StorageError):
            change()
    assert (store.get_run(run.id).name, store.get_run(run.id).tags) == ("kept", ("kept-tag",))
    assert store.runs_version() == version
    with pytest.raises(RunNotFound):
        store.rename_run(999, "x")


def test_the_runs_list_filters_by_tag_status_and_experiment_together(store: Store):
    experiment = store.create_experiment("e", {}, [("a", {}), ("b", {})])
    a, b = experiment.run_ids
    other = store.create_run("c", {}).id
    store.set_run_tags(a, ["keep"])
    store.set_run_tags(other, ["keep"])
    store.request_cancel(b)
    assert [r.id for r in store.list_runs(tag="keep")] == [other, a]
    assert [r.id for r in store.list_runs(tag="keep", experiment_id=experiment.id)] == [a]
    assert [r.id for r in store.list_runs(statuses=[Status.CANCELLED], experiment_id=experiment.id)] == [b]
