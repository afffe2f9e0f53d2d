"""Password guessing against a live dashboard: how many guesses are actually checked, and what guessing costs a
right login.

    .venv/bin/python -m bench.bench_login [--guesses 120] [--parallel 24]

Serves the dashboard in this process (logins on, one trusted proxy so X-Forwarded-For names the client), then:
1. one address sends --guesses wrong passwords for one user, --parallel at a time: guesses sent per second vs
   passwords checked per second (the rest are refused unchecked by the throttle);
2. the same from a different address for every guess (a botnet): checked per second;
3. a right login from the user's usual address, alone and with 20 wrong guesses from other addresses in flight:
   the ratio of the two latencies (1.0: guessing does not hold a right login back).
"""

from __future__ import annotations

import argparse
import concurrent.futures
import statistics
import tempfile
import time
from pathlib import Path

import httpx

from nover_ui.access import Access
from nover_ui.app import build_app
from nover_ui.login_routes import server_extensions
from storage import Store

USER, PASSWORD = "alice", "right password"


def serve(home: Path) -> tuple[object, str]:
    access = Access(passwords={USER: PASSWORD}, trusted_proxies=1)
    app = build_app(Store(f"sqlite:///{home / 'nover_ui.db'}"), home, access)
    app.launch(prevent_thread_lock=True, quiet=True, app_kwargs=server_extensions(access))
    return app, app.local_url + "nover/login"


def attempt(url: str, password: str, address: str) -> str:
    message = httpx.post(
        url, json={"user": USER, "password": password}, headers={"X-Forwarded-For": address}, timeout=60
    ).json()["message"]
    return "ok" if message.startswith("Logged in") else "checked" if "wrong user name" in message else "refused"


def flood(url: str, guesses: int, parallel: int, address_of) -> tuple[float, int]:
    started = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(parallel) as pool:
        answers = list(pool.map(lambda i: attempt(url, f"guess {i}", address_of(i)), range(guesses)))
    return time.perf_counter() - started, answers.count("checked")


def right_login_s(url: str, with_flood: bool) -> float:
    with concurrent.futures.ThreadPoolExecutor(21) as pool:
        wrong = [pool.submit(attempt, url, f"x{i}", f"9.{i}.0.1") for i in range(20)] if with_flood else []
        started = time.perf_counter()
        assert pool.submit(attempt, url, PASSWORD, "1.1.1.1").result() == "ok"
        elapsed = time.perf_counter() - started
        [future.result() for future in wrong]
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--guesses", type=int, default=120)
    parser.add_argument("--parallel", type=int, default=24)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        app, url = serve(Path(folder))
        try:
            assert attempt(url, PASSWORD, "1.1.1.1") == "ok"  # the user's usual address
            seconds, checked = flood(url, args.guesses, args.parallel, lambda i: "6.6.6.6")
            print(
                f"one address: {args.guesses} guesses in {seconds:.2f} s ({args.guesses / seconds:.0f}/s sent), "
                f"{checked} checked ({checked / seconds:.1f}/s); checked/sent = {checked / args.guesses:.3f}"
            )
            seconds, checked = flood(url, args.guesses, args.parallel, lambda i: f"7.{i // 250}.{i % 250}.1")
            print(
                f"a new address per guess: {checked} of {args.guesses} checked ({checked / seconds:.1f}/s); "
                f"checked/sent = {checked / args.guesses:.3f}"
            )
            alone = statistics.median(right_login_s(url, False) for _ in range(5))
            flooded = statistics.median(right_login_s(url, True) for _ in range(5))
            print(
                f"right login: {alone * 1000:.0f} ms alone, {flooded * 1000:.0f} ms with 20 wrong guesses in "
                f"flight; ratio {flooded / alone:.2f}"
            )
        finally:
            app.close()


if __name__ == "__main__":
    main()
