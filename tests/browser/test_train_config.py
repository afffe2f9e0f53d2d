"""The Train form in Chromium: presets, preview with the equivalent command, save and load a config."""

import json
from pathlib import Path

from playwright.sync_api import expect


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
    assert page.locator("#field-model input, #field-model textarea").first.input_value() == "Qwen/Qwen2.5-7B"

    # Every field error at once, each under its field; the help lines read as text.
    page.get_by_role("button", name="Proxy").click()
    expect(page.locator("#field-proxy_alpha")).to_contain_text("proxy <- alpha∗proxy + (1-alpha)∗policy at each sync")
    for field, value in (("max_steps", "0"), ("seed", "-1")):
        page.locator(f"#field-{field} input").fill(value)
    page.get_by_role("button", name="Preview").click()
    page.locator("#train-status").get_by_text("2 fields need a fix", exact=False).wait_for()
    for field in ("max_steps", "seed"):
        expect(page.locator(f"#field-{field}")).to_contain_text("⚠")

    # Picking the chosen preset again resets the form to it, errors and all.
    page.get_by_label("Preset").click()
    page.get_by_role("option", name="paper").click()
    page.wait_for_function("document.querySelector('#field-max_steps input').value === '1000'")
    expect(page.locator("#field-seed")).not_to_contain_text("⚠")

    expect(page.locator("#run-cost")).to_contain_text("Estimated time: unknown")  # the paper's 7B model, untimed

    # A million steps of the CPU demo shows what it would take before anything is queued.
    page.get_by_label("Preset").click()
    page.get_by_role("option", name="cpu-demo").click()
    page.wait_for_function("document.querySelector('#field-max_steps input').value === '24'")
    page.locator("#field-max_steps input").fill("1000000")
    page.locator("#field-max_steps input").press("Tab")
    page.locator("#run-cost").get_by_text("run time about 154 days (1,000,000 steps)", exact=False).wait_for()
