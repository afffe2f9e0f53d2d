"""Only the open tab polls: each tab's version timer runs while its tab is shown and stops when another opens.

Every tab that follows live data has a timer reading a cheap version (the Runs table's, the Metrics runs' steps,
the Evaluate and Playground jobs'). Left running on hidden tabs, a page would send all of them whatever it shows,
and N open pages would make the server answer 4N polls every 2 s. A tab's select event (a person's click) switches
the timers: the shown tab's runs, the others stop. Coming back to a tab restarts its timer, whose next tick reads
the version and redraws what changed meanwhile.
"""

from __future__ import annotations

from typing import Any

import gradio as gr

from nover_ui.events import bind


def timer_states(shown: str, timers: dict[str, gr.Timer]) -> dict[Any, Any]:
    """Each timer's update when the tab with id `shown` opens: active for that tab only."""
    return {timer: gr.Timer(active=tab_id == shown) for tab_id, timer in timers.items()}


def wire_visible_polls(tab_items: dict[str, gr.Tab], timers: dict[str, gr.Timer], first: str) -> None:
    """`timers` by the id of the tab they belong to; `first` is the tab the page opens on, whose timer alone starts."""
    for tab_id, timer in timers.items():
        timer.active = tab_id == first  # read when the page's config is built, at launch
    for tab_id, item in tab_items.items():
        item.select(
            bind(timer_states, tab_id, timers),
            None,
            list(timers.values()),
            show_progress="hidden",
            api_visibility="private",
        )
