"""Access control and upload limits in Chromium: with logins configured, reading is open but every write is
refused until the page logs in; upload names never become paths; oversized uploads are refused."""

import pytest
from playwright.sync_api import expect

from storage import Store
from tests.browser.conftest import select_run, serve

MAX_ROWS = 3
MAX_UPLOAD_MB = 0.01  # 10,485 bytes


@pytest.fixture
def guarded_app(app_home):
    yield from serve(
        app_home,
        "--workers",
        "0",
        "--auth",
        "alice:wonder land,bob:builder",
        "--max-upload-mb",
        str(MAX_UPLOAD_MB),
        "--max-upload-rows",
        str(MAX_ROWS),
    )


def csv_file(name: str, rows: int, cell: str = "q") -> dict:
    body = "prompt,reference\n" + "".join(f"{cell}{i}?,a{i}\n" for i in range(rows))
    return {"name": name, "mimeType": "text/csv", "buffer": body.encode()}


def upload(page, file: dict) -> None:
    page.locator("#data-upload input[type=file]").set_input_files(files=[file])


def kept_uploads(home) -> list[str]:
    folder = home / "uploads"
    return sorted(path.name for path in folder.iterdir()) if folder.exists() else []


def open_run(page, name: str) -> None:
    page.get_by_role("tab", name="Runs").click()
    select_run(page, name)


def test_every_write_needs_a_login_and_reading_does_not(guarded_app, app_home, page, artifacts):
    store = Store(f"sqlite:///{app_home / 'nover_ui.db'}")
    queued = store.create_run("queued", {})
    failed = store.start_run(store.create_run("failed", {"max_steps": 4}).id, "w")
    store.add_checkpoint(failed.id, 2, str(app_home / "runs" / str(failed.id) / "checkpoint-2"))
    store.finish_run(failed.id, "failed", "boom")
    before = store.list_runs()
    page.goto(guarded_app)
    expect(page.locator("#login-status")).to_contain_text("Anyone can read this dashboard")

    page.locator("#queue-run").click()
    expect(page.locator("#train-status")).to_contain_text("Not queued: log in to queue runs")
    upload(page, csv_file("data.csv", 2))  # refused by the upload route itself: Gradio never stores it
    expect(page.get_by_text("Upload refused: log in to upload files").first).to_be_visible()
    assert kept_uploads(app_home) == []

    for name, button, refusal in [
        ("queued", "Cancel", "log in to cancel runs"),
        ("failed", "Resume from last checkpoint", "log in to resume runs"),
    ]:
        open_run(page, name)
        page.get_by_role("button", name=button).click()
        expect(page.locator("#run-action")).to_contain_text(f"Refused: {refusal}")
    page.get_by_role("button", name="Delete…").click()
    page.get_by_role("button", name="Yes, delete it").click()
    expect(page.locator("#run-action")).to_contain_text("Refused: log in to delete runs")

    page.get_by_role("tab", name="Playground").click()
    page.locator("#play-go").click()
    expect(page.locator("#play-status")).to_contain_text("Not queued: log in to generate")
    page.get_by_role("tab", name="Evaluate").click()
    page.locator("#eval-queue").click()
    expect(page.locator("#eval-status")).to_contain_text("Not queued: log in to queue evaluations")
    # Reading stays open: the runs table shows both runs; nothing changed.
    assert store.list_runs() == before and store.list_evaluations() == []

    page.locator("#login-user textarea, #login-user input").first.fill("alice")
    page.locator("#login-password input").fill("wonder")
    page.locator("#login-button").click()
    expect(page.locator("#login-status")).to_contain_text("Not logged in: wrong user name or password")
    page.locator("#login-password input").fill("wonder land")
    page.locator("#login-button").click()
    expect(page.locator("#login-status")).to_contain_text("Logged in as alice")
    page.screenshot(path=str(artifacts / "access-logged-in.png"), full_page=True)

    open_run(page, "queued")
    page.get_by_role("button", name="Cancel").click()
    expect(page.locator("#run-action")).to_contain_text(f"Cancel requested for run #{queued.id}")
    page.get_by_role("button", name="Delete…").click()
    page.get_by_role("button", name="Yes, delete it").click()
    expect(page.locator("#run-action")).to_contain_text(f"Deleted run #{queued.id}")
    open_run(page, "failed")
    page.get_by_role("button", name="Resume from last checkpoint").click()
    expect(page.locator("#run-action")).to_contain_text(f"resuming run #{failed.id}")
    page.get_by_role("tab", name="Train").click()
    page.locator("#queue-run").click()
    expect(page.locator("#train-status")).to_contain_text("Queued run")
    newest, resumed, original = store.list_runs()
    assert newest.name.startswith("cpu-demo") and newest.status == "queued"
    assert (resumed.name, resumed.parent_id, original.id) == ("failed (resumed from step 2)", failed.id, failed.id)

    # A reload keeps the login (an HTTP-only cookie the server issued), until the person logs out.
    page.reload()
    expect(page.locator("#login-status")).to_contain_text("Logged in as alice until")
    page.locator("#queue-run").click()
    expect(page.locator("#train-status")).to_contain_text("Queued run")
    assert [c["httpOnly"] for c in page.context.cookies() if c["name"] == "nover_ui_login"] == [True]
    page.locator("#logout-button").click()
    expect(page.locator("#login-status")).to_contain_text("Anyone can read this dashboard")
    page.reload()
    expect(page.locator("#login-status")).to_contain_text("Anyone can read this dashboard")
    page.locator("#queue-run").click()
    expect(page.locator("#train-status")).to_contain_text("Not queued: log in to queue runs")
    assert len(store.list_runs()) == 4


def log_in(page, url: str, user: str, password: str) -> None:
    """A fresh page (an empty upload box), logged in."""
    page.goto(url)
    page.locator("#login-user textarea, #login-user input").first.fill(user)
    page.locator("#login-password input").fill(password)
    page.locator("#login-password input").press("Enter")
    expect(page.locator("#login-status")).to_contain_text(f"Logged in as {user}")


def test_upload_names_never_become_paths_and_limits_hold(guarded_app, app_home, page):
    log_in(page, guarded_app, "bob", "builder")
    upload(page, csv_file("../../escape.csv", 2))
    expect(page.locator("#data-summary")).to_contain_text("2 rows; 2 usable for training")
    [kept] = kept_uploads(app_home)
    assert kept.endswith(".csv") and len(kept) == len("0123456789abcdef.csv")
    assert not list(app_home.parent.parent.glob("escape.csv")) and not list(app_home.rglob("escape*"))
    dataset = page.locator("#field-dataset textarea, #field-dataset input").first.input_value()
    assert dataset == str(app_home / "uploads" / kept)

    log_in(page, guarded_app, "bob", "builder")
    upload(page, csv_file("many.csv", MAX_ROWS + 1))
    expect(page.locator("#data-summary")).to_contain_text(f"more than {MAX_ROWS} rows, over the limit of {MAX_ROWS}")

    # Over the size limit: Gradio's upload route refuses the bytes before any handler runs.
    log_in(page, guarded_app, "bob", "builder")
    upload(page, csv_file("huge.csv", 2, cell="x" * 20_000))
    expect(page.get_by_text("exceed the maximum allowed size", exact=False).first).to_be_visible()
    assert kept_uploads(app_home) == [kept]
