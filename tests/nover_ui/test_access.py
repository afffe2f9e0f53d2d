import time

import gradio as gr
import pytest
from starlette.requests import Request

from nover_ui import access as access_module
from nover_ui.access import Access, AccessDenied, parse_auth


@pytest.fixture(autouse=True)
def no_login_delay(monkeypatch):
    monkeypatch.setattr(access_module, "FAILED_LOGIN_DELAY_S", 0.0)


def request(session_hash: str = "page-1", oauth_info: dict | None = None) -> gr.Request:
    """A real gr.Request around a Starlette request, with the session Gradio's OAuth middleware would set."""
    scope = {"type": "http", "method": "POST", "path": "/", "headers": [], "query_string": b""}
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


def test_a_login_belongs_to_one_session_until_logout():
    access = Access(passwords={"alice": "pw"})
    with pytest.raises(AccessDenied, match="log in to cancel runs"):
        access.require_write(request("page-1"), "cancel runs")
    with pytest.raises(AccessDenied, match="wrong user name or password"):
        access.login("page-1", "alice", "PW")
    with pytest.raises(AccessDenied, match="wrong user name or password"):
        access.login("page-1", "eve", "pw")
    assert access.login("page-1", "alice", "pw") == "alice"
    assert access.require_write(request("page-1"), "cancel runs") == "alice"
    with pytest.raises(AccessDenied):
        access.require_write(request("page-2"), "cancel runs")
    access.logout("page-1")
    with pytest.raises(AccessDenied):
        access.require_write(request("page-1"), "cancel runs")


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
