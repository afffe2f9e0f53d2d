"""What the Runs table does in the browser alone: each running run's ETA counts down every second, and the selected
run's row stays highlighted.

Both change without a request: the server sends the seconds left of each running run with every redraw (the value
of a hidden gr.HTML, `clock_value`), and the script below, run once when that element loads, rewrites the ETA cells
from it each second. It writes only the text node Gradio's table rendered (never replacing nodes), so the table's
own later redraws still land; the highlight is a data attribute the table does not manage, styled by RUNS_CSS.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

from nover_ui.runs_table import ETA_COLUMN

RUNS_CSS = """
#runs-table [role=row][data-nover-selected] [role=gridcell] {
  background: var(--color-accent-soft) !important;
}
#runs-table [role=row][data-nover-selected] [role=gridcell]:first-child {
  box-shadow: inset 4px 0 0 var(--color-accent);
}
"""

RUNS_CLOCK_JS = (
    """
// One state for the page, however often Gradio mounts this element: one interval, one set of listeners.
const clock = (window.noverRunsClock ??= {finishAt: {}, selected: null, lastBox: null, started: false});
const cellText = (row, col) => row.querySelector(`[role=gridcell][data-col="${col}"] span.text`);
const format = (seconds) => {  // nover_ui/runs_table.py countdown_text, the same text
  const total = Math.max(Math.round(seconds), 0), minutes = Math.floor(total / 60), secs = total % 60;
  if (minutes >= 60) return `${Math.floor(minutes / 60)}h ${String(minutes % 60).padStart(2, '0')}m`;
  return minutes ? `${minutes}m ${String(secs).padStart(2, '0')}s` : `${secs} s`;
};
const paint = () => {
  const box = document.querySelector('#selected-run input');
  if (box && box.value !== clock.lastBox) {  // the server chose a run (a click, answered)
    clock.lastBox = box.value;
    clock.selected = box.value;
  }
  const now = Date.now();
  document.querySelectorAll('#runs-table [role=row]').forEach((row) => {
    const idCell = cellText(row, 0);
    if (!idCell) return;  // the header row
    const id = idCell.textContent.trim();
    if (id === clock.selected) row.dataset.noverSelected = '1';
    else delete row.dataset.noverSelected;
    const eta = cellText(row, ETA_COLUMN);
    const node = eta && eta.firstChild;
    if (clock.finishAt[id] !== undefined && node && node.nodeType === Node.TEXT_NODE) {
      const shown = format((clock.finishAt[id] - now) / 1000);
      if (node.nodeValue !== shown) node.nodeValue = shown;
    }
  });
};
const load = () => {
  const now = Date.now();
  clock.finishAt = {};
  for (const [id, seconds] of Object.entries(JSON.parse(props.value || '{}'))) {
    clock.finishAt[id] = now + 1000 * seconds;
  }
  paint();
};
load();
watch('value', load);
if (!clock.started) {
  clock.started = true;
  setInterval(paint, 1000);
  // A click highlights its row at once, before the server's answer; scrolling moves rows Gradio draws virtually.
  document.addEventListener('click', (event) => {
    const row = event.target.closest && event.target.closest('#runs-table [role=row]');
    const idCell = row && cellText(row, 0);
    if (idCell) clock.selected = idCell.textContent.trim();
    paint();
  }, true);
  document.addEventListener('scroll', (event) => {
    if (event.target.closest && event.target.closest('#runs-table')) paint();
  }, {capture: true, passive: true});
}
"""
).replace("ETA_COLUMN", str(ETA_COLUMN))


def clock_value(eta_s: Mapping[int, float]) -> str:
    """The hidden element's value: seconds left by run id, which the script counts down from when it arrives.

    >>> clock_value({3: 59.96, 12: 3600.0})
    '{"3": 60.0, "12": 3600.0}'
    """
    return json.dumps({str(run_id): round(seconds, 1) for run_id, seconds in eta_s.items()})
