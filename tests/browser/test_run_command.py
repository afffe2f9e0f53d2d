"""The Runs tab shows the selected run's command as text."""

from playwright.sync_api import expect

from storage import Store
from tests.browser.conftest import select_run


def test_selecting_a_run_shows_its_command_as_text(running_app, app_home, page):
    store = Store(f"sqlite:///{app_home / 'nover_ui.db'}")
    command = (
        "accelerate launch --config_file training/accelerate/ddp.yaml --num_processes 2 -m training.run "
        "--set num_processes=2 --set 'dataset=/data/<b>bold</b>.csv'"
    )
    launched = store.start_run(store.create_run("launched", {}).id, "w")
    store.set_run_command(launched.id, command)
    store.create_run("queued", {})
    page.goto(running_app)
    page.get_by_role("tab", name="Runs").click()

    select_run(page, "launched")
    shown = page.locator("#run-command")
    expect(shown).to_contain_text("--set 'dataset=/data/<b>bold</b>.csv'")  # the tags as text, not markup
    assert shown.locator("b").count() == 0
    select_run(page, "queued")  # no worker has started it, so there is no command to show
    expect(shown).to_be_hidden()
