"""The Compare tab's handlers on a real SQLite Store: one prompt followed across steps and runs."""

import gradio as gr
import pytest

from nover_ui.compare_tab import PICK_BOTH, PICK_FIRST, build_compare, show
from tests.helpers import rollout_row
from tests.nover_ui.tab_fixtures import built

NOTHING = (None,) * 8


@pytest.fixture
def tab(store):
    return built(build_compare, store)


def run_over_steps(store, name, steps_by_row, rewards=(0.5, 1.5), template="{}?"):
    """A run whose step s sampled each data row listed for it: {step: ["row 1", ...]}."""
    run = store.start_run(store.create_run(name, {}).id, "w")
    for step, rows in steps_by_row.items():
        store.log_step(
            run.id,
            step,
            rollouts=[
                rollout_row(g, s, reward=r, reasoning=f"{name} {step} {s}", prompt=template.format(row), data_row=row)
                | {"reference": f"answer {row}"}
                for g, row in enumerate(rows)
                for s, r in enumerate(rewards)
            ],
        )
    return run


def values(tab, shown):
    """The picker values an update leaves on the page, in CompareTab.picks order."""
    return tuple(shown[picker]["value"] for picker in tab.picks)


def test_opening_shows_the_newest_run_on_a_recurring_prompt_at_its_first_and_last_step(store, tab):
    run_over_steps(store, "old", {1: ["row 1"]})
    run = run_over_steps(store, "new", {1: ["row 1"], 2: ["row 2"], 3: ["row 2"], 4: ["row 1"], 5: ["row 2"]})
    shown = show(store, tab, *NOTHING, changed="open")
    row_2 = next(p for p in store.list_prompts(run.id) if p.data_row == "row 2")
    assert shown[tab.prompt_dd]["choices"] == [
        ("row 2? (steps 2, 3, 5)", row_2.id),
        ("row 1? (steps 1, 4)", row_2.id - 1),
    ]
    assert values(tab, shown) == (run.id, row_2.id, run.id, 2, 1, run.id, 5, 1)
    assert shown[tab.left.step_dd]["choices"] == [2, 3, 5]
    assert shown[tab.left.sample_dd]["choices"] == [("#0 reward 0.500", 0), ("#1 reward 1.500", 1)]
    assert f"run {run.id} · step 2 · #1" in shown[tab.compare_html]
    assert f"run {run.id} · step 5 · #1" in shown[tab.compare_html]
    assert [trace.name for trace in shown[tab.history_plot].data][0] == f"#{run.id} best reward"
    assert list(shown[tab.history_plot].data[0].x) == [2, 3, 5]


def test_a_prompt_sampled_once_opens_on_two_different_rollouts_of_its_step(store, tab):
    run = run_over_steps(store, "r", {1: ["row 1"]})
    shown = show(store, tab, *NOTHING, changed="open")
    assert values(tab, shown)[2:] == (run.id, 1, 1, run.id, 1, 0)
    assert shown[tab.prompt_dd]["choices"][0][0] == "row 1? (step 1 only)"
    assert "Δ reward -1.000" in shown[tab.compare_html]


def test_a_pick_keeps_what_lies_beside_and_above_it_and_chooses_afresh_below(store, tab):
    run = run_over_steps(store, "r", {1: ["row 1"], 2: ["row 1"], 3: ["row 1"]}, rewards=(0.5, 1.5, 1.0))
    prompt = store.list_prompts(run.id)[0].id
    # The left step changed by hand: its best rollout is chosen, the right side is kept as it was.
    shown = show(store, tab, run.id, prompt, run.id, 2, 0, run.id, 3, 2, changed="left_step")
    assert values(tab, shown) == (run.id, prompt, run.id, 2, 1, run.id, 3, 2)
    assert tab.history_plot not in shown  # a step leaves the history chart as it is
    # A rollout picked by hand is kept, even the one the other side shows.
    shown = show(store, tab, run.id, prompt, run.id, 3, 2, run.id, 3, 2, changed="sample")
    assert values(tab, shown)[2:] == (run.id, 3, 2, run.id, 3, 2)
    # A side's run changed to one step: the side chosen afresh avoids the other side's rollout.
    shown = show(store, tab, run.id, prompt, run.id, 3, 1, run.id, 7, 1, changed="right_step")
    assert values(tab, shown)[2:] == (run.id, 3, 1, run.id, 3, 2)
    # The run changed: everything below it is chosen afresh.
    assert values(tab, show(store, tab, run.id, None, None, 2, 0, None, 2, 0, changed="run"))[2:] == (
        run.id,
        1,
        1,
        run.id,
        3,
        1,
    )


def test_another_run_with_another_template_finds_the_same_data_row(store, tab):
    chatml = run_over_steps(store, "chatml", {1: ["row 1"], 2: ["row 1"]}, template="<|im_start|>user\n{}<|im_end|>")
    plain = run_over_steps(store, "plain", {4: ["row 2", "row 1"]}, rewards=(1.0, 2.0))
    prompt = store.list_prompts(chatml.id)[0].id
    shown = show(store, tab, chatml.id, prompt, chatml.id, 1, 1, plain.id, None, None, changed="right_run")
    assert values(tab, shown)[2:] == (chatml.id, 1, 1, plain.id, 4, 1)
    assert f"run {plain.id} · step 4 · #1" in shown[tab.compare_html]
    assert "Δ reward +0.500" in shown[tab.compare_html]
    names = [trace.name for trace in shown[tab.history_plot].data if trace.name.endswith("best reward")]
    assert names == [f"#{chatml.id} best reward", f"#{plain.id} best reward"]
    # A run that never sampled the data point: nothing to pick on that side, and the page says so.
    other = run_over_steps(store, "other", {1: ["row 9"]})
    shown = show(store, tab, chatml.id, prompt, chatml.id, 1, 1, other.id, None, None, changed="right_run")
    assert values(tab, shown)[5:] == (other.id, None, None)
    assert shown[tab.compare_html] == PICK_BOTH


def test_an_empty_database_asks_for_a_run(store, tab):
    shown = show(store, tab, *NOTHING, changed="open")
    assert values(tab, shown) == NOTHING and shown[tab.compare_html] == PICK_FIRST


def test_every_event_is_a_person_s_pick_so_no_written_value_fires_another(store):
    with gr.Blocks() as app, gr.Tabs(), gr.Tab("Compare") as compare:
        tab = build_compare(store, compare)
    pickers = {picker._id for picker in tab.picks}
    triggers = [(block, event) for fn in app.fns.values() for block, event in fn.targets]
    assert {event for block, event in triggers if block in pickers} == {"input"}
    assert (compare._id, "select") in triggers
