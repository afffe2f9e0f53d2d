"""Uploading data in the Train tab: a preview and column mapping for a good file, a clear refusal for a bad one."""

from playwright.sync_api import expect

from storage import Store


def upload(page, path) -> None:
    page.locator("#data-upload input[type=file]").set_input_files(str(path))


def test_an_upload_is_previewed_mapped_queued_kept_across_a_reload_and_cleared(
    running_app, app_home, page, tmp_path, artifacts
):
    data = tmp_path / "econ questions.csv"
    data.write_text(
        "question,answer,split\nWhat is 2+2?,4,train\nName a colour.,blue,train\nEmpty?,,train\n"
        "Is it?,yes,validation\nWhy?,so,test\n"
    )
    page.goto(running_app)
    upload(page, data)
    summary = page.locator("#data-summary")
    summary.get_by_text("5 rows: train 3 · validation 1 · test 1; 2 usable for training", exact=False).wait_for(
        timeout=30_000
    )
    assert "econ questions.csv" in summary.inner_text() and "`question`" not in summary.inner_text()
    page.get_by_text("Name a colour.").filter(visible=True).first.wait_for()  # the preview table
    assert page.locator("#field-prompt_column input").input_value() == "question"
    assert page.locator("#field-reference_column input").input_value() == "answer"
    dataset = page.locator("#field-dataset textarea, #field-dataset input").first.input_value()
    assert dataset.startswith(str(app_home / "uploads")) and dataset.endswith(".csv")
    name_box = page.locator("#field-dataset_name textarea, #field-dataset_name input").first
    assert name_box.input_value() == "econ questions.csv"
    page.screenshot(path=str(artifacts / "train-upload.png"), full_page=True)

    page.get_by_label("Run name").fill("uploaded")
    page.locator("#queue-run").click()
    page.locator("#train-status").get_by_text("on econ questions.csv", exact=False).wait_for()
    run = Store(f"sqlite:///{app_home / 'nover_ui.db'}").list_runs()[0]
    assert (run.config["dataset"], run.config["prompt_column"]) == (dataset, "question")
    assert run.config["dataset_name"] == "econ questions.csv"

    # A reload keeps the form: the stored copy, its name, the mapping and the preview.
    page.locator("#field-max_steps input").fill("5")
    page.locator("#field-max_steps input").press("Tab")
    page.reload()
    page.locator("#data-summary").get_by_text("econ questions.csv", exact=False).wait_for(timeout=30_000)
    expect(page.locator("#field-max_steps input")).to_have_value("5")
    expect(page.locator("#field-prompt_column input")).to_have_value("question")
    expect(page.locator("#field-dataset textarea, #field-dataset input").first).to_have_value(dataset)
    expect(name_box).to_have_value("econ questions.csv")

    # Clearing the upload clears the data choice: back to the demo set the form had before.
    upload(page, data)
    summary.get_by_text("5 rows", exact=False).wait_for(timeout=30_000)
    page.locator("#data-upload button[aria-label='Clear']").first.click()
    expect(page.locator("#field-dataset textarea, #field-dataset input").first).to_have_value("builtin:demo")
    expect(name_box).to_have_value("")
    expect(page.locator("#field-prompt_column input")).to_have_value("prompt")


def test_bad_uploads_say_why_and_queue_nothing(running_app, app_home, page, tmp_path):
    store = Store(f"sqlite:///{app_home / 'nover_ui.db'}")
    page.goto(running_app)
    no_rows = tmp_path / "no_refs.csv"
    no_rows.write_text("prompt,reference\nWhat?,\nWhy?,\n")
    upload(page, no_rows)
    page.locator("#data-summary").get_by_text("no usable rows", exact=False).wait_for(timeout=30_000)
    page.locator("#queue-run").click()
    page.locator("#train-status").get_by_text("Not queued", exact=False).wait_for()
    assert "no usable rows" in page.locator("#train-status").inner_text()

    broken = tmp_path / "broken.jsonl"
    broken.write_text('{"prompt": "a", "reference": "b"}\n{not json\n')
    page.reload()  # a fresh, empty upload box
    upload(page, broken)
    page.locator("#data-summary").get_by_text("Upload refused", exact=False).wait_for(timeout=30_000)
    assert "line 2" in page.locator("#data-summary").inner_text()
    assert store.list_runs() == []
