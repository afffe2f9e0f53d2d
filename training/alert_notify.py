"""Posting a new alert to the operator's webhook, off the training thread.

Standard library only (app.py checks the URL at start-up with `webhook_url_problem`). The URL comes from the
operator alone: app.py's `--alert-webhook` or NOVER_ALERT_WEBHOOK, passed on to the workers it starts, or
`python -m training.worker --alert-webhook`; never from the page, and never shown on it.

Each post runs on one background thread per run, in the order the alerts came, with a short timeout: a webhook that
fails, answers an error or never answers costs the training loop nothing, and leaves one line in the worker's log
and the alert not marked notified.
"""

from __future__ import annotations

import json
import queue
import sys
import threading
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

WEBHOOK_TIMEOUT_S = 5.0
"""Per post: long enough for a chat service's webhook, short enough that a run's end waits little for the last."""
WEBHOOK_ENV = "NOVER_ALERT_WEBHOOK"
PUBLIC_URL_ENV = "NOVER_UI_PUBLIC_URL"
"""The dashboard's address as the webhook's readers reach it, for a link to the run (a Space's is known)."""


@dataclass(frozen=True)
class AlertSettings:
    """The operator's alert settings, given to every run a worker trains."""

    webhook_url: str | None = None
    public_url: str | None = None
    """The dashboard's address for the link in a post; None leaves the link out."""
    timeout_s: float = WEBHOOK_TIMEOUT_S


NO_WEBHOOK = AlertSettings()


def webhook_url_problem(url: str) -> str | None:
    """Why `url` cannot be a webhook (only http and https with a host), or None.

    >>> webhook_url_problem("https://hooks.example.com/T0/B0"), webhook_url_problem("http://127.0.0.1:9000/")
    (None, None)
    >>> webhook_url_problem("file:///etc/passwd")
    "the alert webhook must be an http:// or https:// URL with a host, got 'file:///etc/passwd'"
    """
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname or any(c.isspace() for c in url):
        return f"the alert webhook must be an http:// or https:// URL with a host, got {url!r}"
    return None


def run_link(public_url: str | None, run_id: int) -> str | None:
    """The Runs tab with the run selected (nover_ui/page_url.py's query), or None when the address is unknown.

    >>> run_link("https://me-nover.hf.space/", 3), run_link(None, 3)
    ('https://me-nover.hf.space/?tab=runs&run=3', None)
    """
    return f"{public_url.rstrip('/')}/?tab=runs&run={run_id}" if public_url else None


class WebhookNotifier:
    """Posts JSON payloads to one URL from a background thread, in order; `on_sent` runs after each 2xx answer."""

    def __init__(self, url: str, timeout_s: float = WEBHOOK_TIMEOUT_S):
        problem = webhook_url_problem(url)
        if problem is not None:
            raise ValueError(problem)
        self._url, self._timeout_s = url, timeout_s
        self._queue: queue.Queue[tuple[Mapping[str, Any], Callable[[], None]] | None] = queue.Queue()
        self._thread = threading.Thread(target=self._loop, name="alert-webhook", daemon=True)
        self._thread.start()

    def send(self, payload: Mapping[str, Any], on_sent: Callable[[], None]) -> None:
        """Queue a post; returns at once."""
        self._queue.put((payload, on_sent))

    def close(self, wait_s: float | None = None) -> bool:
        """Post what is queued, then stop; wait at most `wait_s` (None: the timeout of each queued post). True when
        every post has been tried; the thread is a daemon, so a hanging webhook never holds the worker."""
        self._queue.put(None)
        if wait_s is None:
            wait_s = self._timeout_s * self._queue.qsize()
        self._thread.join(wait_s)
        return not self._thread.is_alive()

    def _loop(self) -> None:
        while (item := self._queue.get()) is not None:
            payload, on_sent = item
            if self._post(payload):
                try:
                    on_sent()
                except Exception as exc:  # the alert is posted; only its mark failed (a busy database)
                    print(f"worker: alert webhook: posted, but cannot mark it notified: {exc}", file=sys.stderr)

    def _post(self, payload: Mapping[str, Any]) -> bool:
        request = urllib.request.Request(
            self._url,
            data=json.dumps(payload).encode(),
            headers={"Content-Type": "application/json", "User-Agent": "nover_ui-alerts"},
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=self._timeout_s) as response:  # noqa: S310  # http(s) only, checked above
                response.read(1024)
                return True  # urlopen raises HTTPError on any answer >= 400
        except (urllib.error.URLError, OSError, ValueError) as exc:  # refused, an error answer, a timeout
            reason = f"HTTP {exc.code}" if isinstance(exc, urllib.error.HTTPError) else str(exc)
            print(f"worker: alert webhook failed ({reason}); the alert stays unnotified", file=sys.stderr)
            return False
