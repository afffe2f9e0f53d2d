import pytest

from nover_ui.access import Access, AccessDenied
from nover_ui.login_throttle import ADDRESS_FAILURES, ADDRESS_WINDOW_S, USER_FREE_FAILURES, LoginThrottle
from tests.nover_ui.test_access import Clock, request


def guess(access: Access, user: str, password: str, address: str) -> str:
    """'ok', 'wrong' (the password was checked) or 'throttled' (it was not)."""
    try:
        access.login(request(peer=address), user, password)
    except AccessDenied as exc:
        return "wrong" if "wrong user name or password" in str(exc) else "throttled"
    return "ok"


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def access(clock):
    return Access(passwords={"alice": "right"}, throttle=LoginThrottle(clock))


def test_an_address_is_locked_out_after_its_failures_until_the_window_passes(clock):
    # Each guess on another user's name, so only the address's count stops them.
    access = Access(
        passwords={"alice": "right", **{f"user{i}": "pw" for i in range(20)}}, throttle=LoginThrottle(clock)
    )
    answers = [guess(access, f"user{i}", "x", "6.6.6.6") for i in range(ADDRESS_FAILURES + 5)]
    assert answers == ["wrong"] * ADDRESS_FAILURES + ["throttled"] * 5
    assert guess(access, "alice", "right", "6.6.6.6") == "throttled"  # locked out: not even checked
    assert guess(access, "alice", "right", "7.7.7.7") == "ok"  # everyone else is not
    clock.now += ADDRESS_WINDOW_S + 1
    assert guess(access, "alice", "right", "6.6.6.6") == "ok"


def test_failures_on_a_user_name_slow_down_guesses_from_new_addresses_only(access, clock):
    assert guess(access, "alice", "right", "1.1.1.1") == "ok"  # alice's usual address
    answers = [guess(access, "alice", "x", f"6.6.6.{i}") for i in range(USER_FREE_FAILURES + 3)]
    # The first failures are free (typos); then each needs a pause, so parallel guesses go unchecked.
    assert answers == ["wrong"] * USER_FREE_FAILURES + ["throttled"] * 3
    assert guess(access, "alice", "right", "9.9.9.9") == "throttled"
    clock.now += 1
    assert guess(access, "alice", "x", "6.6.6.99") == "wrong"
    assert guess(access, "alice", "x", "6.6.6.98") == "throttled"
    clock.now += 2  # the pause doubled; a right password from a new address gets through after it
    assert guess(access, "alice", "right", "9.9.9.9") == "ok"
    for i in range(USER_FREE_FAILURES + 1):
        guess(access, "alice", "x", f"6.6.7.{i}")
    assert guess(access, "alice", "right", "8.8.8.8") == "throttled"
    # Nobody can lock alice out where she has logged in before: her addresses are checked at once.
    assert guess(access, "alice", "right", "1.1.1.1") == "ok"


def test_unknown_user_names_share_one_entry(access):
    for i in range(USER_FREE_FAILURES):
        assert guess(access, f"nobody{i}", "x", f"5.5.5.{i}") == "wrong"
    assert guess(access, "nobody-else", "x", "5.5.5.200") == "throttled"
    assert guess(access, "alice", "right", "5.5.5.201") == "ok"


def test_a_failure_logs_one_line_without_the_password(access, capsys):
    guess(access, "alice\nforged line", "secret-guess", "6.6.6.6")
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "failed login for user 'alice\\nforged line' from 6.6.6.6" in err
    assert "secret-guess" not in err
