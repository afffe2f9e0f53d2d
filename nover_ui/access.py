"""Who may change things on this dashboard.

Reading (runs, metrics, traces, downloads) is always public. Writing (queue, cancel, resume, delete, upload,
generate, evaluate, and anything that opens a data file) is refused to everyone on a read-only or demo
dashboard, allowed to everyone when no login is configured (a dashboard on your own machine), and otherwise
allowed to a logged-in client only:
- `NOVER_UI_AUTH="alice:secret,bob:other"`: the "Log in" row of the page posts to the app's own /nover/login
  route, which sets an HTTP-only, SameSite cookie holding a server-issued secret; `gradio_client` scripts call
  the /login endpoint and send the token it returns in the X-Nover-Token header. Both expire after
  `login_ttl_s` (12 h) or at logout, and survive a page reload until then.
- Hugging Face OAuth on a Space (`hf_oauth: true` in README.md): "Sign in with Hugging Face", for the accounts
  in NOVER_UI_HF_USERS (default: the Space's owner).

A write whose request carries an Origin header (every browser request does) must come from this dashboard's
own origin, so another site cannot make a logged-in browser write. Gradio's shared-password
`launch(auth=...)` is not used because it would hide the dashboard from readers too.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import sys
import threading
import time
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import gradio as gr

from nover_ui.login_throttle import LoginThrottle, Throttled
from nover_ui.safe_text import api_error

LOGIN_TTL_S = 12 * 3600.0
COOKIE_NAME = "nover_ui_login"
TOKEN_HEADER = "X-Nover-Token"
READ_ONLY_MESSAGE = "this dashboard is read-only (started with --read-only): runs cannot be queued or changed"
UNKNOWN_USER = "\0unknown"
"""Wrong user names share one throttle entry: guessing names cannot grow the throttle's memory."""


class AccessDenied(Exception):
    """The client may not do this; the message says how to get the right to."""


def parse_auth(text: str) -> dict[str, str]:
    """'alice:secret,bob:other' -> {'alice': 'secret', 'bob': 'other'} (a password may contain ':' but not ',')."""
    users: dict[str, str] = {}
    for pair in filter(None, (item.strip() for item in text.split(","))):
        user, sep, password = pair.partition(":")
        if not sep or not user.strip() or not password:
            raise ValueError(
                f"NOVER_UI_AUTH / --auth takes user:password pairs separated by commas; "
                f"{pair.split(':')[0]!r} has no password"
            )
        users[user.strip()] = password
    return users


@dataclass(frozen=True)
class Login:
    user: str
    token: str
    """The secret the client presents (cookie or header); the server keeps only its hash."""
    expires_at: float
    """Unix time."""


class LoginSessions:
    """Server-issued login secrets with an expiry; nothing a client can make up or read from a URL."""

    def __init__(self, ttl_s: float = LOGIN_TTL_S, clock: Callable[[], float] = time.time):
        self.ttl_s, self._clock = ttl_s, clock
        self._by_hash: dict[str, tuple[str, float]] = {}
        self._lock = threading.Lock()

    def open(self, user: str) -> Login:
        token = secrets.token_urlsafe(32)
        now = self._clock()
        with self._lock:
            self._by_hash = {key: value for key, value in self._by_hash.items() if value[1] > now}
            self._by_hash[_digest(token)] = (user, now + self.ttl_s)
        return Login(user, token, now + self.ttl_s)

    def find(self, token: str | None) -> tuple[str, float] | None:
        """(user, expires_at) of a live token, None for an unknown, expired or logged-out one."""
        if not token:
            return None
        with self._lock:
            found = self._by_hash.get(_digest(token))
        return found if found is not None and found[1] > self._clock() else None

    def close(self, token: str | None) -> None:
        with self._lock:
            self._by_hash.pop(_digest(token or ""), None)


@dataclass
class Access:
    read_only: bool = False
    read_only_message: str = READ_ONLY_MESSAGE
    passwords: Mapping[str, str] = field(default_factory=dict)
    hf_users: Collection[str] | None = None
    """Hugging Face accounts that may write after OAuth sign-in; None when OAuth is off."""
    trusted_proxies: int = 0
    """Reverse proxies in front of the app (a Space has one): the client address is then read from
    X-Forwarded-For, this many entries from its end. 0: the address of the connection itself."""
    public_host: str | None = None
    """The host people reach the dashboard by when a proxy may rewrite Host (a Space's SPACE_HOST)."""
    sessions: LoginSessions = field(default_factory=LoginSessions)
    throttle: LoginThrottle = field(default_factory=LoginThrottle)

    @property
    def needs_login(self) -> bool:
        return not self.read_only and (bool(self.passwords) or self.hf_users is not None)

    def login(self, request: Any, user: str, password: str) -> Login:
        """Check a user name and password from `request`'s client; AccessDenied (wrong, or throttled)."""
        address = self.client_address(request)
        known = user if user in self.passwords else UNKNOWN_USER
        try:
            self.throttle.check(known, address)
        except Throttled as exc:
            raise AccessDenied(str(exc)) from None
        expected = self.passwords.get(user)
        # compare_digest on both branches: an unknown user takes as long as a wrong password.
        matches = hmac.compare_digest(password.encode(), (expected or "\0" + password).encode())
        if expected is None or not matches:
            recent = self.throttle.failed(known, address)
            print(
                f"nover_ui: failed login for user {user[:64]!r} from {address} ({recent} from this address in 10 min)",
                file=sys.stderr,
            )
            raise AccessDenied("wrong user name or password")
        self.throttle.succeeded(known, address)
        return self.sessions.open(user)

    def logout(self, request: Any) -> None:
        self.sessions.close(_token(request))

    def login_of(self, request: Any) -> tuple[str, float] | None:
        """(user, expires_at) of the request's password login, if any."""
        return self.sessions.find(_token(request)) if request is not None else None

    def user(self, request: Any) -> str | None:
        """The logged-in user of this request, by password login or by Hugging Face sign-in."""
        if request is None:
            return None
        if (found := self.login_of(request)) is not None:
            return found[0]
        hf_user = _hf_username(request)
        if hf_user is not None and self.hf_users is not None and hf_user in self.hf_users:
            return hf_user
        return None

    def require_write(
        self, request: Any, action: str, how: str = "use the log-in row at the top of the page"
    ) -> str | None:
        """The user allowed to `action` ("queue runs"), None when no login is configured; else AccessDenied
        saying `how` to log in."""
        if self.read_only:
            raise AccessDenied(self.read_only_message)
        if request is not None and not same_origin(request, self.public_host):
            raise AccessDenied(f"refused to {action}: the request comes from another site")
        if not self.needs_login:
            return None
        if (user := self.user(request)) is None:
            raise AccessDenied(f"log in to {action}: {how}")
        return user

    def gate(self, request: gr.Request | None, action: str) -> None:
        """require_write for API endpoints: a refusal becomes the AppError a gradio_client script gets."""
        try:
            self.require_write(
                request, action, how=f"call the /login endpoint, then send its token in the {TOKEN_HEADER} header"
            )
        except AccessDenied as exc:
            raise api_error(str(exc)) from None

    def client_address(self, request: Any) -> str:
        """The client's IP: the connection's peer, or with trusted proxies the X-Forwarded-For entry the
        outermost of them saw (entries before it are the client's own claims and prove nothing)."""
        peer = getattr(getattr(request, "client", None), "host", None) or "unknown"
        if self.trusted_proxies <= 0:
            return peer
        forwarded = [part.strip() for part in (request.headers.get("x-forwarded-for") or "").split(",") if part.strip()]
        # An IPv6 address has at most 45 characters; anything longer is not one, and must not grow the throttle.
        return forwarded[-self.trusted_proxies][:45] if len(forwarded) >= self.trusted_proxies else peer

    def session_key(self, request: Any) -> str:
        """What limits per session count against: the login when there is one, else the page's session."""
        token = _token(request)
        return f"login:{_digest(token)}" if token else f"page:{getattr(request, 'session_hash', '')}"


def same_origin(request: Any, public_host: str | None = None) -> bool:
    """True when the request has no Origin (scripts, curl) or one naming the host it was sent to (or
    `public_host`). A browser always sends Origin with a POST, and a page of another site cannot forge it or the
    Host header."""
    origin = request.headers.get("origin")
    if not origin:
        return True
    host = urlsplit(origin).netloc.lower()
    allowed = {request.headers.get(name, "").lower() for name in ("host", "x-forwarded-host")} | {
        (public_host or "").lower()
    }
    return bool(host) and host in allowed - {""}


def _token(request: Any) -> str | None:
    if request is None:
        return None
    headers = getattr(request, "headers", None) or {}
    cookies = getattr(request, "cookies", None) or {}
    return headers.get(TOKEN_HEADER.lower()) or cookies.get(COOKIE_NAME)


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _hf_username(request: Any) -> str | None:
    # Gradio keeps the OAuth result in the signed session cookie, which exists only when a LoginButton is on
    # the page (it installs the session middleware); any other request has no session at all.
    try:
        session: Any = request.session
    except (AssertionError, AttributeError, KeyError):
        return None
    info = session.get("oauth_info") if hasattr(session, "get") else None
    if not info or info.get("expires_at", 0) < time.time():
        return None
    return info.get("userinfo", {}).get("preferred_username")
