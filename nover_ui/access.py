"""Who may change things on this dashboard.

Reading (runs, metrics, traces, downloads) is always public. Writing (queue, cancel, resume, delete, upload,
generate, evaluate) is refused to everyone on a read-only or demo dashboard, allowed to everyone when no login
is configured (a dashboard on your own machine), and otherwise allowed to a logged-in session only:
- `NOVER_UI_AUTH="alice:secret,bob:other"`: the "Log in" row of the page, or the `/login` API endpoint
  (a `gradio_client.Client` stays logged in for its lifetime);
- Hugging Face OAuth on a Space (`hf_oauth: true` in README.md): "Sign in with Hugging Face", for the accounts
  in NOVER_UI_HF_USERS (default: the Space's owner).

A browser session is one page load: reloading the page logs out. Gradio's shared-password `launch(auth=...)`
is not used because it would hide the dashboard from readers too.
"""

from __future__ import annotations

import hmac
import threading
import time
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

import gradio as gr

SESSION_TTL_S = 12 * 3600.0
FAILED_LOGIN_DELAY_S = 1.0
"""Each wrong password costs the guesser a second (handlers run in a thread pool, so others are not slowed)."""
READ_ONLY_MESSAGE = "this dashboard is read-only (started with --read-only): runs cannot be queued or changed"


class AccessDenied(Exception):
    """The session may not do this; the message says how to get the right to."""


def parse_auth(text: str) -> dict[str, str]:
    """'alice:secret,bob:other' -> {'alice': 'secret', 'bob': 'other'} (a password may contain ':' but not ',')."""
    users: dict[str, str] = {}
    for pair in filter(None, (item.strip() for item in text.split(","))):
        user, sep, password = pair.partition(":")
        if not sep or not user.strip() or not password:
            raise ValueError(f"NOVER_UI_AUTH / --auth takes user:password pairs separated by commas; "
                             f"{pair.split(':')[0]!r} has no password")
        users[user.strip()] = password
    return users


@dataclass
class Access:
    read_only: bool = False
    read_only_message: str = READ_ONLY_MESSAGE
    passwords: Mapping[str, str] = field(default_factory=dict)
    hf_users: Collection[str] | None = None
    """Hugging Face accounts that may write after OAuth sign-in; None when OAuth is off."""
    _sessions: dict[str, tuple[str, float]] = field(default_factory=dict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def needs_login(self) -> bool:
        return not self.read_only and (bool(self.passwords) or self.hf_users is not None)

    def login(self, session: str | None, user: str, password: str) -> str:
        expected = self.passwords.get(user)
        # compare_digest on both branches: an unknown user takes as long as a wrong password.
        matches = hmac.compare_digest(password.encode(), (expected or "\0" + password).encode())
        if not session or expected is None or not matches:
            time.sleep(FAILED_LOGIN_DELAY_S)
            raise AccessDenied("wrong user name or password")
        with self._lock:
            now = time.monotonic()
            self._sessions = {key: value for key, value in self._sessions.items() if value[1] > now}
            self._sessions[session] = (user, now + SESSION_TTL_S)
        return user

    def logout(self, session: str | None) -> None:
        with self._lock:
            self._sessions.pop(session or "", None)

    def user(self, request: gr.Request | None) -> str | None:
        """The logged-in user of this request's session, by password or by Hugging Face sign-in."""
        if request is None:
            return None
        with self._lock:
            user, expires = self._sessions.get(request.session_hash or "", (None, 0.0))
        if user is not None and expires > time.monotonic():
            return user
        hf_user = _hf_username(request)
        if hf_user is not None and self.hf_users is not None and hf_user in self.hf_users:
            return hf_user
        return None

    def require_write(self, request: gr.Request | None, action: str,
                      how: str = "use the log-in row at the top of the page") -> str | None:
        """The user allowed to `action` ("queue runs"), None when no login is configured; else AccessDenied
        saying `how` to log in."""
        if self.read_only:
            raise AccessDenied(self.read_only_message)
        if not self.needs_login:
            return None
        if (user := self.user(request)) is None:
            raise AccessDenied(f"log in to {action}: {how}")
        return user

    def gate(self, request: gr.Request | None, action: str) -> None:
        """require_write for API endpoints: a refusal becomes the AppError a gradio_client script gets."""
        try:
            self.require_write(request, action, how="call the /login endpoint with this client first")
        except AccessDenied as exc:
            raise gr.Error(str(exc)) from None


def _hf_username(request: gr.Request) -> str | None:
    # Gradio keeps the OAuth result in the signed session cookie, which exists only when a LoginButton is on
    # the page (it installs the session middleware); any other request has no session at all.
    try:
        session: Any = request.session
    except (AssertionError, AttributeError):
        return None
    info = session.get("oauth_info") if hasattr(session, "get") else None
    if not info or info.get("expires_at", 0) < time.time():
        return None
    return info.get("userinfo", {}).get("preferred_username")
