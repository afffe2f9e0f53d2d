"""Evaluation and playground jobs from the dashboard, run by a real worker on the trained 2-step run."""

import re

import pytest
from playwright.sync_api import expect

from storage import Store
from tests.browser.conftest import MODEL_HOME, serve
from tests.trained_run import copy_trained_db

JOB_TIMEOUT_MS = 600_000


@pytest.fixture(scope="module")
def worker_home(tmp_path_factory):
    """One data directory for the playground and evaluation tests: each reads only its own kind of job, so they
    share one app and worker start."""
    return tmp_path_factory.mktemp("jobs")


@pytest.fixture(scope="module")
def trained_app_with_worker(trained_home, worker_home):
    """conftest's trained_app_with_worker, started once for the module's tests over worker_home."""
    copy_trained_db(trained_home, worker_home)
    (worker_home / "models").symlink_to(MODEL_HOME, target_is_directory=True)
    yield from serve(worker_home, "--workers", "1")


def test_playground_answers_side_by_side_from_base_and_checkpoint(
    trained_app_with_worker, worker_home, page, artifacts
):
    page.goto(trained_app_with_worker)
    page.get_by_role("tab", name="Playground").click()
    expect(page.locator("#play-run input")).to_have_value(re.compile("trained demo"))
    expect(page.locator("#play-b input")).to_have_value(re.compile("step 2"))
    page.locator("#play-prompt textarea").fill("What is 3 + 4?")
    page.locator("#play-reference textarea, #play-reference input").first.fill("7")
    page.locator("#play-go").click()
    page.locator("#play-status").get_by_text("Queued", exact=False).wait_for()
    answers = page.locator("#play-answers")
    answers.get_by_text("base model").wait_for()
    expect(answers.locator(".side")).to_have_count(2)
    expect(answers.get_by_text("seed 0", exact=False)).to_have_count(2, timeout=JOB_TIMEOUT_MS)
    store = Store(f"sqlite:///{worker_home / 'nover_ui.db'}")
    jobs = [e for e in store.list_evaluations() if e.kind == "playground"]
    assert sorted(e.checkpoint_step or 0 for e in jobs) == [0, 2] and {e.status for e in jobs} == {"succeeded"}
    for job in jobs:
        [sample] = store.get_evaluation_samples(job.id)
        shown = sample.answer if sample.format_valid else sample.completion
        assert (shown or "").strip()[:30] in answers.inner_text()
    page.screenshot(path=str(artifacts / "tab-playground.png"), full_page=True)


def test_evaluation_of_base_and_checkpoint_with_grid_and_downloads(
    trained_app_with_worker, worker_home, page, artifacts
):
    store = Store(f"sqlite:///{worker_home / 'nover_ui.db'}")
    page.goto(trained_app_with_worker)
    page.get_by_role("tab", name="Evaluate").click()
    expect(page.locator("#eval-run input")).to_have_value(re.compile("trained demo"))
    page.locator("#eval-prompts input").fill("4")
    page.locator("#eval-queue").click()
    page.locator("#eval-status").get_by_text("Queued evaluation(s)", exact=False).wait_for()
    table = page.locator("#eval-table")
    for label in ("base SmolLM2-135M-Instruct", "run 1 · step 2"):
        table.get_by_text(label).filter(visible=True).first.wait_for()
    expect(table.get_by_text("succeeded", exact=True).filter(visible=True)).to_have_count(2, timeout=JOB_TIMEOUT_MS)

    evaluations = [e for e in store.list_evaluations() if e.kind == "evaluation"]
    assert all(e.metrics["samples"] == 4 for e in evaluations)
    for evaluation in evaluations:
        rate = evaluation.metrics["format_valid_rate"]
        table.get_by_text(f"{rate:.3f}", exact=True).filter(visible=True).first.wait_for()
    # Counts are whole, the run and the data are named, and the "Queued" line went with the jobs. (The playground
    # jobs before them took ids 1 and 2, so one evaluation's id cell reads "4" as well.)
    ids_reading_4 = sum(e.id == 4 for e in evaluations)
    expect(table.get_by_text("4", exact=True).filter(visible=True)).to_have_count(2 + ids_reading_4)
    table.get_by_text("#1 trained demo", exact=True).filter(visible=True).first.wait_for()
    expect(page.locator("#eval-status")).not_to_contain_text("Queued")
    if any(e.metrics["format_valid_rate"] == 0 for e in evaluations):  # the 135M model often answers none
        page.locator("#eval-note").get_by_text("format-valid: no answer was scored", exact=False).wait_for()

    page.locator("#eval-chosen input").click()
    for evaluation in evaluations:  # one click each: the table no longer redraws on every tick
        page.get_by_role("option", name=re.compile(rf"#{evaluation.id} ")).click()
    chosen = page.locator("#eval-chosen .token")
    expect(chosen).to_have_count(2)
    # A new job changes the evaluations' version: the table redraws, and what was chosen stays chosen.
    run = store.list_runs()[0]
    extra = store.queue_evaluation(
        "evaluation", run.config["model"], run.config["dataset"], {"split": "test"}, run_id=run.id, checkpoint_step=2
    )
    store.cancel_evaluation(extra.id)
    table.get_by_text("cancelled", exact=True).filter(visible=True).first.wait_for()
    expect(chosen).to_have_count(2)
    page.get_by_role("button", name="Show answers").click()
    grid = page.locator("#eval-grid")
    grid.locator("tbody tr").first.wait_for()
    assert grid.locator("tbody tr").count() == 4 and grid.locator("thead th").count() == 4  # + the diff column
    assert "word diff" in grid.inner_text()
    page.screenshot(path=str(artifacts / "tab-evaluate.png"), full_page=True)

    page.get_by_text("Downloads").click()
    with page.expect_download() as samples_download:
        page.get_by_role("button", name="Chosen evaluations' samples").click()
        page.locator("#eval-download a[download]").click()
    assert samples_download.value.suggested_filename.endswith("-samples.parquet")
    with page.expect_download() as adapter_download:
        page.get_by_role("button", name="Adapter (zip)").click()
        page.locator("#eval-download a[download]").filter(has_text=re.compile("KB|MB")).first.click()
    assert adapter_download.value.suggested_filename == "run-1-step-2-adapter.zip"


def test_the_evaluations_table_follows_its_jobs_without_a_click(running_app, app_home, page):
    """The timer reads only the jobs' version; a job that starts or ends redraws the table by itself."""
    store = Store(f"sqlite:///{app_home / 'nover_ui.db'}")
    run = store.create_run("evaluated", {"model": "org/Tiny-Model", "dataset": "builtin:demo"})
    job = store.queue_evaluation("evaluation", "org/Tiny-Model", "builtin:demo", {"split": "test"})
    page.goto(running_app)
    page.get_by_role("tab", name="Evaluate").click()
    expect(page.locator("#eval-run input")).to_have_value(re.compile("evaluated"))
    table = page.locator("#eval-table")
    table.get_by_text("queued", exact=True).filter(visible=True).first.wait_for()
    store.claim_next_evaluation("w")
    table.get_by_text("running", exact=True).filter(visible=True).first.wait_for()
    store.finish_evaluation(job.id, "succeeded", {"format_valid_rate": 0.75, "samples": 4.0})
    table.get_by_text("0.750", exact=True).filter(visible=True).first.wait_for()
    assert store.get_run(run.id).status == "queued"  # no worker here: only the jobs moved
