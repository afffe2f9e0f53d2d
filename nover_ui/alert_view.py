"""Alerts on the Runs tab: a run's badge in the table, and the evidence of each alert of the selected run.

Pure helpers: alert records in, plain text (a table cell) or HTML out. Rule names may be written by a person and
messages quote metric keys, so everything enters the HTML through `html_text`. Each step of the evidence links to
Traces at that step, in the page's own URL format (nover_ui/page_url.py), so following it opens that view.
"""

from __future__ import annotations

from collections.abc import Sequence
from urllib.parse import urlencode

from nover_ui.events import TRACES
from nover_ui.number_text import number_text
from nover_ui.safe_text import html_text
from storage import AlertRecord

STEP_LINKS = 8
"""Steps linked per alert: the first and the last few; a long streak's middle adds nothing to click."""


def badge_text(alerts: Sequence[AlertRecord]) -> str:
    """The table's cell for a run's alerts: how many and the first rule, as plain text; empty when none.

    >>> from datetime import datetime
    >>> now = datetime(2025, 1, 1)
    >>> badge_text([AlertRecord(1, 3, "kl_spike", "kl", (5,), (0.4,), 5, "m", now, now, None)] * 2)
    '⚠ 2 · kl_spike'
    >>> badge_text([])
    ''
    """
    return f"⚠ {len(alerts)} · {alerts[0].rule}" if alerts else ""


def traces_link(run_id: int, step: int) -> str:
    """The page's link to Traces at a run's step (?tab=traces&run=3&step=5).

    >>> traces_link(3, 5)
    '?tab=traces&run=3&step=5'
    """
    return "?" + urlencode({"tab": TRACES, "run": run_id, "step": step})


def evidence_html(alerts: Sequence[AlertRecord]) -> str:
    """One block per alert: its rule, metric, steps and values, its message, and a link to Traces at each step.

    >>> from datetime import datetime
    >>> now = datetime(2025, 1, 1)
    >>> html = evidence_html([AlertRecord(1, 3, "<b>x</b> > 1", "x", (4, 5), (2.0, 3.0), 5, "x was 2, 3", now,
    ...     now, None)])
    >>> "&lt;b&gt;x&lt;/b&gt; &gt; 1" in html, "<b>x</b>" in html, 'href="?tab=traces&amp;run=3&amp;step=5"' in html
    (True, False, True)
    """
    if not alerts:
        return ""
    blocks = []
    for alert in alerts:
        points = list(zip(alert.steps, alert.values))
        linked = points if len(points) <= STEP_LINKS else points[:2] + points[-(STEP_LINKS - 2) :]
        links = " ".join(
            f'<a href="{html_text(traces_link(alert.run_id, step))}" target="_self">{step}</a>' for step, _ in linked
        )
        values = ", ".join(f"{step}: {html_text(number_text(value))}" for step, value in points[-STEP_LINKS:])
        more = f" (last {STEP_LINKS} of {len(points)})" if len(points) > STEP_LINKS else ""
        blocks.append(
            '<div class="nover-alert">'
            f"<b>{html_text(alert.rule)}</b> on <code>{html_text(alert.metric)}</code><br>"
            f"{html_text(alert.message)}<br>"
            f"values by step{more}: {values}<br>"
            f"open in Traces at step {links}"
            "</div>"
        )
    return (
        '<div class="nover-alerts"><p>Alerts state what the metrics did; whether it matters is yours to judge.</p>'
        + "".join(blocks)
        + "</div>"
    )
