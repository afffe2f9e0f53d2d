"""An idle page sends only the cheap version polls: no event fires without a person's action or a changed version
(issue 13: after Compare was opened, a chain of change events re-fired every ~2 s, on every tab, for ever)."""

import json
import re
import time
import urllib.request
from urllib.parse import urlparse

from playwright.sync_api import expect

TABS = ("Train", "Runs", "Metrics", "Traces", "Compare", "Playground", "Evaluate")
VERSION_POLLS = {"poll_version", "poll_steps", "poll"}
"""The timers' handlers, each one small read (Runs: Store.runs_version; Metrics: each chosen run's latest step;
Playground and Evaluate: their jobs' version); their endpoints are named after them (a second one gets "_1")."""
STREAMS = re.compile(r"/gradio_api/(queue/data|heartbeat/)")
"""What carries a queued event's answer back, and Gradio's liveness check: not events."""
POLLING_TABS = ("Runs", "Metrics", "Playground", "Evaluate")
IDLE_S = 6
"""Long enough for every timer to fire at least twice (2-3 s each) and for issue 13's chain (~2 s a round) to show
three times over."""
QUIET_S = 3
"""Longer than a round of issue 13's chain: a page that kept one going would never be this quiet."""


def route(tab: str) -> tuple[str, ...]:
    """The tabs a page opens before it idles on `tab` (the last one). The first tab's page opens every tab and comes
    back: nothing it opened may keep sending events or polling once it is left, whichever tab it was. Every other
    page opens Compare (issue 13's trigger) and Runs (a polling tab, whose timer must stop when it is left) and then
    its own tab: each tab idles after the trigger, and only its own timer polls. The tabs other than Compare and Runs
    are opened on two pages (the tour and their own), not on all seven: the pages share the two cores, so every extra
    visit slows the test."""
    if tab == TABS[0]:
        return (*TABS[1:], TABS[0])
    return (*(other for other in ("Compare", "Runs") if other != tab), tab)


def endpoint_names(url: str) -> dict[int, str]:
    """fn_index -> endpoint name, from the app's own config."""
    with urllib.request.urlopen(url + "config") as response:
        config = json.load(response)
    return {dep.get("id", i): dep.get("api_name") or "" for i, dep in enumerate(config["dependencies"])}


def test_every_tab_idles_with_only_the_version_polls(trained_app, browser, artifacts):
    names = endpoint_names(trained_app)
    logs: dict[str, list[tuple[float, str]]] = {tab: [] for tab in TABS}

    def listen(page, tab: str) -> None:
        def record(request) -> None:
            if urlparse(request.url).path.endswith("/gradio_api/queue/join"):
                what = names.get(json.loads(request.post_data)["fn_index"], "?")
            elif STREAMS.search(request.url):
                return
            else:
                what = f"{request.method} {request.url}"
            logs[tab].append((time.monotonic(), what))

        page.on("request", record)

    # One page per tab, each opening the tabs of its route, then left on its own: all seven idle in one window. One
    # context each: a page holds two long-lived connections (heartbeat, event stream), and Chromium opens at most six
    # per host within a context.
    contexts = [browser.new_context(viewport={"width": 1400, "height": 900}) for _ in TABS]
    pages = {tab: context.new_page() for tab, context in zip(TABS, contexts)}
    for tab, page in pages.items():
        listen(page, tab)
        page.goto(trained_app)
    for page in pages.values():
        expect(page.get_by_role("tab", name=TABS[-1])).to_be_visible(timeout=120_000)
    routes = {tab: route(tab) for tab in TABS}
    for visit in range(max(map(len, routes.values()))):
        for tab, page in pages.items():
            if visit < len(routes[tab]):
                link = page.get_by_role("tab", name=routes[tab][visit])
                link.click()
                expect(link).to_have_attribute("aria-selected", "true")
    visited = time.monotonic()
    expect(pages["Compare"].locator("#compare")).to_contain_text("right minus left", timeout=180_000)

    def is_poll(what: str) -> bool:
        return re.sub(r"_\d+$", "", what) in VERSION_POLLS

    # Wait (with a deadline) until the visits' own events have been answered: no other request for QUIET_S, counted
    # from the last click at the earliest (a busy page may send that click's events a while after it).
    deadline = time.monotonic() + 180
    while True:
        pages["Train"].wait_for_timeout(500)  # lets Playwright deliver every page's request events
        others = [t for log in logs.values() for t, what in log if not is_poll(what)]
        if time.monotonic() - max([visited, *others]) >= QUIET_S:
            break
        busy = {tab: [what for t, what in log if not is_poll(what)][-5:] for tab, log in logs.items()}
        assert time.monotonic() < deadline, f"the pages never went quiet after the visits: {busy}"

    start = time.monotonic()
    pages["Train"].wait_for_timeout(IDLE_S * 1000)  # the measured window: every page idles at once
    end = time.monotonic()
    idle = {tab: [what for t, what in log if start <= t < end] for tab, log in logs.items()}
    counts = {tab: {what: sent.count(what) for what in sorted(set(sent))} for tab, sent in idle.items()}
    report = "\n".join(f"{tab}: {counts[tab] or 'nothing'}" for tab in TABS)
    print(f"\nrequests in {IDLE_S} s idle, per tab:\n{report}")
    (artifacts / "idle-requests.txt").write_text(report + "\n")
    for context in contexts:
        context.close()

    assert {tab: [what for what in sent if not is_poll(what)] for tab, sent in idle.items()} == {
        tab: [] for tab in TABS
    }
    # Only the shown tab polls (visible_polls): one kind of poll on a tab that follows live data, none elsewhere.
    assert {tab: len(counts[tab]) for tab in TABS} == {tab: int(tab in POLLING_TABS) for tab in TABS}, counts
    # The Runs table's poll is alive in the window, and no poll runs more often than every 2 s (~5 in 10 s).
    assert counts["Runs"].get("poll_version", 0) >= 2
    assert all(n <= IDLE_S / 2 + 1 for sent in counts.values() for n in sent.values()), counts
