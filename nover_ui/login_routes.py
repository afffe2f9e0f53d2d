"""The app's own HTTP routes that log a browser in and out, and the guard in front of Gradio's upload route.

Gradio handlers cannot set cookies, so the page's "Log in" button posts to POST /nover/login (JSON
{"user", "password"}), which answers with an HTTP-only cookie holding a server-issued secret (access.py).
Passed to `launch(app_kwargs=...)` by app.py: `routes` and `middleware` of the underlying FastAPI app.
"""

from __future__ import annotations

import datetime as dt
import json

from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from nover_ui.access import COOKIE_NAME, Access, AccessDenied, same_origin
from nover_ui.safe_text import markdown_text

LOGIN_PATH = "/nover/login"
LOGOUT_PATH = "/nover/logout"
MAX_LOGIN_BODY = 4096
MAX_CHARS = 256
UPLOAD_ROUTE_SUFFIX = "/gradio_api/upload"


def logged_in_text(user: str, expires_at: float) -> str:
    until = dt.datetime.fromtimestamp(expires_at, dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    return f"Logged in as **{markdown_text(user)}** until {until} (a reload keeps the login; Log out ends it)."


def server_extensions(access: Access, embedded: bool = False) -> dict:
    """`launch(app_kwargs=...)`: the login routes, and the upload guard as middleware.

    `embedded`: the page is shown inside another site's frame (a Hugging Face Space), where a SameSite=Strict
    cookie would never be sent; the cookie is then SameSite=None, Secure and partitioned to that frame, and
    the Origin check on every write is what keeps other sites out.
    """

    async def login(request: Request) -> JSONResponse:
        if not same_origin(request, access.public_host):
            return _message(403, "Not logged in: the request comes from another site.")
        body = b""
        async for chunk in request.stream():  # read no more than a login can be
            body += chunk
            if len(body) > MAX_LOGIN_BODY:
                return _message(413, "Not logged in: the request is too large.")
        try:
            fields = json.loads(body)
            user, password = fields["user"], fields["password"]
        except (ValueError, KeyError, TypeError):
            return _message(400, 'Not logged in: send JSON {"user": ..., "password": ...}.')
        if not (isinstance(user, str) and isinstance(password, str)) or max(map(len, (user, password))) > MAX_CHARS:
            return _message(400, f"Not logged in: user and password are strings of at most {MAX_CHARS} characters.")
        try:
            granted = access.login(request, user.strip(), password)
        except AccessDenied as exc:
            return _message(401, f"Not logged in: {exc}.")
        response = JSONResponse(
            {
                "user": granted.user,
                "expires_at": granted.expires_at,
                "message": logged_in_text(granted.user, granted.expires_at),
            }
        )
        secure = embedded or _https(request)
        response.set_cookie(
            COOKIE_NAME,
            granted.token,
            max_age=int(access.sessions.ttl_s),
            path="/",
            httponly=True,
            secure=secure,
            samesite="none" if embedded else "strict",
            partitioned=embedded,
        )
        return response

    async def logout(request: Request) -> JSONResponse:
        if not same_origin(request, access.public_host):
            return _message(403, "The request comes from another site.")
        access.logout(request)
        response = _message(200, "Logged out.")
        response.delete_cookie(COOKIE_NAME, path="/")
        return response

    return {
        "routes": [Route(LOGIN_PATH, login, methods=["POST"]), Route(LOGOUT_PATH, logout, methods=["POST"])],
        "middleware": [Middleware(UploadGuard, access=access)],
    }


class UploadGuard:
    """Gradio stores an uploaded file before any handler sees it; this refuses the upload itself to a client that
    may not write, so nothing a visitor sends is kept."""

    def __init__(self, app: ASGIApp, access: Access):
        self.app, self.access = app, access

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] == "http"
            and scope["method"] == "POST"
            and scope["path"].rstrip("/").endswith(UPLOAD_ROUTE_SUFFIX)
        ):
            try:
                self.access.require_write(Request(scope), "upload files")
            except AccessDenied as exc:
                await PlainTextResponse(f"Upload refused: {exc}", status_code=403)(scope, receive, send)
                return
        await self.app(scope, receive, send)


def _message(status: int, message: str) -> JSONResponse:
    return JSONResponse({"message": message}, status_code=status)


def _https(request: Request) -> bool:
    return request.url.scheme == "https" or request.headers.get("x-forwarded-proto") == "https"
