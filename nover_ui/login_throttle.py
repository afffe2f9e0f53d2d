"""How fast anyone may guess passwords: per client address a lock-out, per user name a slow-down.

Nothing here sleeps: a throttled attempt is refused at once with the wait it has to respect, so guesses queued
in parallel cost the server nothing and a right password is never stuck behind wrong ones.

- An address with ADDRESS_FAILURES failed logins within ADDRESS_WINDOW_S is refused until the oldest of them
  leaves the window (a lock-out of one attacker, never of everyone: behind a proxy the address comes from
  X-Forwarded-For, and only when the operator says a proxy is in front; see Access.client_address).
- A user name with failed logins in a row is checked at most once per delay, the delay doubling from 1 s to
  USER_MAX_DELAY_S. An address that has logged in as that user before is exempt, so guessing from elsewhere
  can slow a named user down but never lock them out where they usually log in.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

ADDRESS_FAILURES = 10
ADDRESS_WINDOW_S = 600.0
USER_FREE_FAILURES = 3
"""Typos: this many failures in a row on one user name cost no wait."""
USER_MAX_DELAY_S = 30.0
TRACKED_KEYS = 10_000
"""Addresses and user names remembered at most (oldest dropped first), so guessing cannot fill the memory."""

_Value = TypeVar("_Value")


class Throttled(Exception):
    def __init__(self, wait_s: float, message: str):
        super().__init__(message)
        self.wait_s = wait_s


@dataclass
class _UserState:
    failures: int = 0
    next_try: float = 0.0
    known_addresses: set[str] = field(default_factory=set)


class LoginThrottle:
    def __init__(self, clock: Callable[[], float] = time.monotonic):
        self._clock = clock
        self._lock = threading.Lock()
        self._address_failures: OrderedDict[str, deque[float]] = OrderedDict()
        self._users: OrderedDict[str, _UserState] = OrderedDict()

    def check(self, user: str, address: str) -> None:
        """Raise Throttled when this attempt may not be checked now."""
        now = self._clock()
        with self._lock:
            failures = self._recent(address, now)
            if len(failures) >= ADDRESS_FAILURES:
                wait = failures[0] + ADDRESS_WINDOW_S - now
                raise Throttled(wait, f"too many failed logins from your address; try again in {_minutes(wait)}")
            state = self._users.get(user)
            if state is not None and address not in state.known_addresses and state.next_try > now:
                wait = state.next_try - now
                raise Throttled(wait, f"too many failed logins for this user name; try again in {wait:.0f} s")

    def failed(self, user: str, address: str) -> int:
        """Record a wrong password; returns the failures of this address within the window."""
        now = self._clock()
        with self._lock:
            failures = self._recent(address, now)
            failures.append(now)
            self._remember(self._address_failures, address, failures)
            state = self._users.get(user) or _UserState()
            state.failures += 1
            if state.failures >= USER_FREE_FAILURES:
                state.next_try = now + min(2.0 ** (state.failures - USER_FREE_FAILURES), USER_MAX_DELAY_S)
            self._remember(self._users, user, state)
            return len(failures)

    def succeeded(self, user: str, address: str) -> None:
        with self._lock:
            state = self._users.get(user) or _UserState()
            state.failures, state.next_try = 0, 0.0
            state.known_addresses.add(address)
            self._remember(self._users, user, state)

    def _recent(self, address: str, now: float) -> deque[float]:
        failures = self._address_failures.get(address, deque())
        while failures and failures[0] <= now - ADDRESS_WINDOW_S:
            failures.popleft()
        return failures

    @staticmethod
    def _remember(table: OrderedDict[str, _Value], key: str, value: _Value) -> None:
        table[key] = value
        table.move_to_end(key)
        while len(table) > TRACKED_KEYS:
            table.popitem(last=False)


def _minutes(seconds: float) -> str:
    return f"{max(1, round(seconds / 60))} min"
