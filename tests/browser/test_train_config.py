"""The Train form in Chromium: presets, preview with the equivalent command, save and load a config."""

import json
from pathlib import Path


def test_preset_preview_save_and_load(running_app, page, tmp_path):
    page.goto(running_app)
    page.locator("#field-max_steps input").wait_for()
    assert page.locator("#field-max_steps input").input_value() == "24"  # the cpu-demo preset by default
    assert "8 rollouts per step" in page.locator("#run-cost").inner_text()

    page.get_by_role("button", name="GRPO").click()  # a closed group opens on click
    page.locator("#field-num_generations input").fill("4")
    page.locator("#field-num_generations input").press("Tab")
    page.locator("#run-cost").get_by_text("4 rollouts per step", exact=False).wait_for()

    page.get_by_role("button", name="Preview").click()
    page.get_by_text("python -m training.run", exact=False).first.wait_for()
    shown = page.locator(".cm-content").first.inner_text()
    assert '"num_generations": 4' in shown

    with page.expect_download() as download_info:
        page.get_by_role("button", name="Save config").click()
        page.locator("#saved-config a[download]").click()
    saved = json.loads(Path(download_info.value.path()).read_text())
    assert (saved["num_generations"], saved["max_steps"]) == (4, 24)

    other = tmp_path / "other.json"
    other.write_text(json.dumps({**saved, "max_steps": 7, "model": "Qwen/Qwen2.5-0.5B-Instruct"}))
    page.locator("input[type=file][accept='.json']").set_input_files(str(other))
    page.wait_for_function("document.querySelector('#field-max_steps input').value === '7'")
    assert page.locator("#field-model input, #field-model textarea").first.input_value() == "Qwen/Qwen2.5-0.5B-Instruct"

    page.get_by_label("Preset").click()
    page.get_by_role("option", name="paper").click()
    page.wait_for_function("document.querySelector('#field-max_steps input').value === '1000'")
    assert page.locator("#field-model input, #field-model textarea").first.input_value() == "Qwen/Qwen2.5-7B-Instruct"
