import time

import gradio as gr
import pytest
from starlette.requests import Request

from nover_ui.access import COOKIE_NAME, TOKEN_HEADER, Access, AccessDenied, LoginSessions, parse_auth, same_origin


class Clock:
    def __init__(self, now: float = 1_000_000.0):
        self.now = now

    def __call__(self) -> float:
        return self.now


def request(
    session_hash: str = "page-1",
    oauth_info: dict | None = None,
    cookie: str | None = None,
    token: str | None = None,
    origin: str | None = None,
    host: str = "dash.example:7860",
    peer: str = "10.0.0.1",
    forwarded_for: str | None = None,
) -> gr.Request:
    """A real gr.Request around a Starlette request, with the session Gradio's OAuth middleware would set."""
    headers = [(b"host", host.encode())]
    if cookie is not None:
        headers.append((b"cookie", f"{COOKIE_NAME}={cookie}".encode()))
    if token is not None:
        headers.append((TOKEN_HEADER.lower().encode(), token.encode()))
    if origin is not None:
        headers.append((b"origin", origin.encode()))
    if forwarded_for is not None:
        headers.append((b"x-forwarded-for", forwarded_for.encode()))
    scope = {
        "type": "http",
        "method": "POST",
        "path": "/",
        "headers": headers,
        "query_string": b"",
        "client": (peer, 50000),
    }
    if oauth_info is not None:
        scope["session"] = {"oauth_info": oauth_info}
    return gr.Request(request=Request(scope), session_hash=session_hash)


def signed_in(user: str, expires_in_s: float = 3600) -> dict:
    return {"userinfo": {"preferred_username": user}, "expires_at": time.time() + expires_in_s}


def test_auth_pairs_are_parsed_and_a_pair_without_password_is_refused():
    assert parse_auth(" alice:s3cret:x , bob:b ,") == {"alice": "s3cret:x", "bob": "b"}
    assert parse_auth("") == {}
    with pytest.raises(ValueError, match="'carol' has no password"):
        parse_auth("alice:a,carol")


def test_without_logins_everyone_writes_and_read_only_refuses_everyone():
    assert Access().require_write(request(), "queue runs") is None
    with pytest.raises(AccessDenied, match="read-only"):
        Access(read_only=True, passwords={"a": "b"}).require_write(request(), "queue runs")


def test_a_login_is_a_server_issued_secret_not_the_page_session():
    access = Access(passwords={"alice": "pw"})
    with pytest.raises(AccessDenied, match="log in to cancel runs"):
        access.require_write(request("page-1"), "cancel runs")
    with pytest.raises(AccessDenied, match="wrong user name or password"):
        access.login(request("page-1"), "alice", "PW")
    with pytest.raises(AccessDenied, match="wrong user name or password"):
        access.login(request("page-1"), "eve", "pw")
    login = access.login(request("page-1"), "alice", "pw")
    assert login.user == "alice" and len(login.token) >= 40
    # The page's session hash, which travels in URLs, grants nothing by itself.
    with pytest.raises(AccessDenied):
        access.require_write(request("page-1"), "cancel runs")
    assert access.require_write(request("page-2", cookie=login.token), "cancel runs") == "alice"
    assert access.require_write(request("any", token=login.token), "cancel runs") == "alice"
    with pytest.raises(AccessDenied):
        access.require_write(request(cookie=login.token[:-1] + "x"), "cancel runs")
    access.logout(request(cookie=login.token))
    with pytest.raises(AccessDenied):  # a captured token is worth nothing after logout
        access.require_write(request(token=login.token), "cancel runs")


def test_a_login_expires():
    clock = Clock()
    access = Access(passwords={"alice": "pw"}, sessions=LoginSessions(ttl_s=60, clock=clock))
    login = access.login(request(), "alice", "pw")
    assert login.expires_at == clock.now + 60
    clock.now += 59
    assert access.require_write(request(cookie=login.token), "queue runs") == "alice"
    clock.now += 2
    with pytest.raises(AccessDenied, match="log in to queue runs"):
        access.require_write(request(cookie=login.token), "queue runs")


def test_a_write_from_another_site_is_refused_even_with_a_login():
    access = Access(passwords={"alice": "pw"})
    login = access.login(request(), "alice", "pw")
    with pytest.raises(AccessDenied, match="comes from another site"):
        access.require_write(request(cookie=login.token, origin="https://evil.example"), "delete runs")
    with pytest.raises(AccessDenied, match="comes from another site"):  # also without logins configured
        Access().require_write(request(origin="http://dash.example:7861"), "delete runs")
    assert access.require_write(request(cookie=login.token, origin="http://dash.example:7860"), "x") == "alice"
    assert same_origin(request())  # scripts send no Origin
    behind_proxy = request(origin="https://me-nover.hf.space", host="10.1.2.3:7860")
    assert not same_origin(behind_proxy) and same_origin(behind_proxy, public_host="me-nover.hf.space")


def test_hugging_face_sign_in_lets_only_the_allowed_accounts_write():
    access = Access(hf_users=("owner",))
    assert access.needs_login
    assert access.require_write(request(oauth_info=signed_in("owner")), "queue runs") == "owner"
    with pytest.raises(AccessDenied):
        access.require_write(request(oauth_info=signed_in("visitor")), "queue runs")
    with pytest.raises(AccessDenied):
        access.require_write(request(oauth_info=signed_in("owner", expires_in_s=-1)), "queue runs")
    with pytest.raises(AccessDenied):
        access.require_write(request(), "queue runs")  # no session middleware: not signed in


def test_the_client_address_comes_from_x_forwarded_for_only_behind_a_trusted_proxy():
    spoofed = request(peer="10.0.0.9", forwarded_for="1.2.3.4")
    assert Access().client_address(spoofed) == "10.0.0.9"
    # One proxy in front: it appended the address it saw last; what the client wrote before proves nothing.
    assert Access(trusted_proxies=1).client_address(request(forwarded_for="6.6.6.6, 1.2.3.4")) == "1.2.3.4"
    assert Access(trusted_proxies=1).client_address(request(peer="10.0.0.9")) == "10.0.0.9"
