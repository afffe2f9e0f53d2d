"""Model output and uploaded data reach the page as text: a completion full of markup runs nothing."""

from playwright.sync_api import expect

from nover_ui.prompt_text import question
from storage import Store
from tests.helpers import chatml, rollout_row
from training.config import RunConfig
from training.prompts import build_messages

SCRIPT = "<script>window.__pwned = 'script'</script>"
IMG = "<img src=x onerror=\"window.__pwned = 'img'\">"


def test_hostile_completions_are_shown_as_text_in_traces(running_app, app_home, page, artifacts):
    store = Store(f"sqlite:///{app_home / 'nover_ui.db'}")
    run = store.start_run(store.create_run("hostile", {}).id, "w")
    # Rendered as the CPU demo renders it: a system line and a worked example before the question.
    prompt = chatml(build_messages(f"Q {IMG}", RunConfig(format_example=True)))
    store.log_step(
        run.id,
        1,
        rollouts=[
            rollout_row(
                0,
                0,
                prompt=prompt,
                completion=f"<think>{SCRIPT}</think><answer>{IMG}</answer>",
                reasoning=SCRIPT,
                answer=IMG,
            ),
            rollout_row(
                0,
                1,
                completion=f"{IMG} no tags at all",
                reasoning=None,
                answer=None,
                format_valid=False,
                perplexity=None,
            ),
        ],
    )
    page.goto(running_app)
    page.get_by_role("tab", name="Traces").click()
    traces = page.locator("#traces")
    traces.get_by_text(SCRIPT).first.wait_for(timeout=30_000)
    assert traces.get_by_text(IMG).count() >= 2  # the answer block and the prompt
    assert traces.get_by_text(f"{IMG} no tags at all").count() == 1
    assert traces.locator("script, img").count() == 0
    assert page.evaluate("window.__pwned") is None

    # The question shows first, as text; the system line and the worked example are folded below it.
    group = traces.locator("section.group").first
    asked, folded = group.locator("div.block.prompt").first, group.locator("details.full-prompt")
    expect(asked.locator(".label")).to_have_text("question")
    expect(asked.locator(".text")).to_have_text(question(prompt))
    expect(group.get_by_text("You are a helpful assistant", exact=False)).to_be_hidden()
    assert asked.bounding_box()["y"] < folded.locator("summary").bounding_box()["y"]
    folded.locator("summary").click()
    expect(group.get_by_text("You are a helpful assistant", exact=False)).to_be_visible()
    assert traces.locator("script, img").count() == 0

    page.get_by_text("Search completions across the run").click()
    page.locator("#traces-query textarea, #traces-query input").first.fill("onerror")
    page.locator("#traces-query textarea, #traces-query input").first.press("Enter")
    page.locator("#traces-search mark").first.wait_for(timeout=30_000)
    assert page.locator("#traces-search img, #traces-search script").count() == 0
    assert page.evaluate("window.__pwned") is None
    page.screenshot(path=str(artifacts / "traces-untrusted-text.png"), full_page=True)


LINK = '<a href="https://evil.example/x">click me</a>'
BIG_KEY = 'rewards/<span style="font-size:60px">big</span>'


def test_run_names_and_metric_keys_are_text_in_charts_and_status_lines(running_app, app_home, page, artifacts):
    store = Store(f"sqlite:///{app_home / 'nover_ui.db'}")
    run = store.start_run(store.create_run(LINK, {}).id, "w")
    store.log_step(run.id, 1, metrics={BIG_KEY: 0.5, "reward": 1.0})
    store.log_step(run.id, 2, metrics={BIG_KEY: 0.7, "reward": 1.5})
    page.goto(running_app)
    page.get_by_role("tab", name="Metrics").click()
    charts = page.locator("[id^=metrics-chart-]")
    charts.locator(".scatterlayer .trace").first.wait_for(timeout=30_000)
    page.get_by_text(BIG_KEY).first.wait_for(timeout=30_000)  # the key's markup shown as its characters
    assert page.get_by_text(f"#{run.id} {LINK}").count() >= 1  # and the run name in the legend
    assert page.locator("a[href*='evil.example']").count() == 0
    sizes = page.locator("[id^=metrics-chart-] text").evaluate_all("els => els.map(e => getComputedStyle(e).fontSize)")
    assert "60px" not in sizes
    page.screenshot(path=str(artifacts / "metrics-untrusted-names.png"), full_page=True)

    # A run name with Markdown in it is shown as text where the Train tab confirms it.
    page.get_by_role("tab", name="Train").click()
    page.get_by_label("Run name").fill("[win a prize](https://evil.example/y) `x")
    page.locator("#queue-run").click()
    status = page.locator("#train-status")
    status.get_by_text("[win a prize](https://evil.example/y) `x", exact=False).wait_for(timeout=30_000)
    assert page.locator("a[href*='evil.example']").count() == 0 and status.locator("code").count() == 0
