"""Tab, run and step in the page's URL (?tab=traces&run=3&step=2), or the experiment (?tab=experiments&experiment=2),
so a link opens the view it was copied from.

The browser keeps the query current by itself: a tab's select and a run or step picker's change run a script with
no Python function (url_script), so following the view costs the server nothing. On page load the dashboard reads
the query once (parse_view) and opens that view; what is not a known tab, a whole number or an existing run is
ignored, so an old or edited link opens the plain dashboard instead of an error.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass

READY = "noverUrlReady"
"""The window's flag that the link has been opened, so the URL may follow the view from then on."""
MAX_DIGITS = 12
"""Longer numbers are no run's or step's: refused before int() reads them."""


@dataclass(frozen=True)
class View:
    """What a link opens: a tab (None: the default one), a run in it and a step of that run (None: its own), or an
    experiment (the Experiments tab's pick)."""

    tab: str | None = None
    run: int | None = None
    step: int | None = None
    experiment: int | None = None


def parse_view(
    query: Mapping[str, str],
    tabs: Collection[str],
    run_exists: Callable[[int], bool],
    experiment_exists: Callable[[int], bool] = lambda _: False,
) -> View:
    """The view a page's query names, each part checked on its own: one of `tabs`, a run that exists, a step of
    it, an experiment that exists (a step without a run, or a run without a tab, opens nothing).

    >>> tabs, exists = ("runs", "traces"), {3}.__contains__
    >>> parse_view({"tab": "traces", "run": "3", "step": "2"}, tabs, exists)
    View(tab='traces', run=3, step=2, experiment=None)
    >>> parse_view({"tab": "nope", "run": "9", "step": "-1"}, tabs, exists)
    View(tab=None, run=None, step=None, experiment=None)
    >>> parse_view({"tab": "runs", "run": "3", "step": "2.5"}, tabs, exists)
    View(tab='runs', run=3, step=None, experiment=None)
    >>> parse_view({"run": "3", "step": "2"}, tabs, exists)
    View(tab=None, run=None, step=None, experiment=None)
    >>> parse_view({"tab": "runs", "experiment": "3"}, tabs, exists, exists).experiment
    3
    """
    tab = query.get("tab")
    if tab not in tabs:
        return View()
    experiment = _whole(query.get("experiment"))
    if experiment is not None and (experiment < 1 or not experiment_exists(experiment)):
        experiment = None
    run = _whole(query.get("run"))
    if run is None or run < 1 or not run_exists(run):
        return View(tab, experiment=experiment)
    return View(tab, run, _whole(query.get("step")), experiment)


def url_script(tab: str, run: bool = False, step: bool = False, experiment: bool = False) -> str:
    """Browser JS for an event with no Python function: sets the query's tab to `tab`, and its run, step or
    experiment to the event's inputs (run first, then step, then experiment; a multi-run picker gives its first
    run); a part the tab has not got, or an empty one, is removed; nothing changes before READY_SCRIPT has run.
    replaceState: following the view adds no history entry and loads nothing.

    >>> "'tab', \\"traces\\"" in url_script("traces", run=True, step=True)
    True
    """
    params = ", ".join(name for name, wanted in (("run", run), ("step", step), ("experiment", experiment)) if wanted)
    return f"""({params}) => {{
  if (!window.{READY}) return;
  const url = new URL(window.location.href);
  const query = url.searchParams;
  query.set('tab', {json.dumps(tab)});
  const put = (name, value, least) => {{
    const first = Array.isArray(value) ? value[0] : value;
    const number = Number(first);
    if (first === null || first === undefined || first === '' || !Number.isInteger(number) || number < least) {{
      query.delete(name);
    }} else query.set(name, String(number));
  }};
  put('run', {"run" if run else "null"}, 1);
  put('step', {"step" if step else "null"}, 0);
  put('experiment', {"experiment" if experiment else "null"}, 1);
  window.history.replaceState(window.history.state, '', url);
}}"""


READY_SCRIPT = f"() => {{ window.{READY} = true; }}"
"""Run once the page has opened its link: before that, the first tab's select would overwrite the link's query
before the load event has read it (Gradio hands the load the page's query as it is when the event is sent)."""


def _whole(text: str | None) -> int | None:
    """A non-negative whole number written in digits only ('3'), else None ('3.5', '-1', '1e3', '')."""
    if text is None or not text.isascii() or not text.isdigit() or len(text) > MAX_DIGITS:
        return None
    return int(text)
