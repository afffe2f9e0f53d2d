"""The dashboard probed as an attacker would: the real app served in this process, over gradio_client and raw
HTTP, with logins configured. Each test reproduces an attack that worked before the fix."""

import concurrent.futures
import json
import threading
from pathlib import Path
from types import SimpleNamespace

import httpx
import pytest
from gradio_client import Client
from gradio_client.exceptions import AppError

from nover_ui.access import COOKIE_NAME, TOKEN_HEADER, Access, LoginSessions
from nover_ui.config_form import config_to_values
from nover_ui.context import Dashboard
from nover_ui.downloads import MAX_FILES, Downloads
from nover_ui.login_throttle import ADDRESS_FAILURES
from nover_ui.uploads import UploadLimits
from nover_ui.work_limits import WorkLimit
from tests.nover_ui.test_access import Clock
from tests.nover_ui.test_api import serve
from tests.nover_ui.test_uploads import plain
from training.config import RunConfig
from training.data import DataError

SECRET_VALUES = ("hunter2", "s3cret-pw")


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def served(store, tmp_path, clock):
    access = Access(
        passwords={"alice": "wonder land"}, trusted_proxies=1, sessions=LoginSessions(ttl_s=3600, clock=clock)
    )
    app, client = serve(store, tmp_path / "home", access)
    yield app, client
    app.close()


@pytest.fixture
def creds(tmp_path):
    """A file the server can read but no visitor should: outside HOME, not in an allowed folder."""
    path = tmp_path / "outside" / "creds.csv"
    path.parent.mkdir()
    path.write_text(f"user,api_key,password\nroot,k-1,{SECRET_VALUES[0]}\nadmin,k-2,{SECRET_VALUES[1]}\n")
    return path


def token_client(url: str, **headers: str) -> Client:
    login = Client(url, verbose=False).predict(username="alice", password="wonder land", api_name="/login")
    return Client(url, verbose=False, headers={TOKEN_HEADER: login["token"], **headers})


def test_no_visitor_or_login_reads_a_file_outside_the_dashboards_places(served, creds, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))  # where `datasets` would cache a folder it loaded
    app, visitor = served
    mapping = [str(creds), "user", "api_key", "password", "zzz"]
    answer = visitor.predict(*mapping, api_name="/remap")
    assert "log in to read data files" in plain(answer) and not any(v in answer for v in SECRET_VALUES)
    alice = token_client(app.local_url)
    for source in (str(creds), str(creds.parent), str(creds.parent / ".." / "outside" / "creds.csv")):
        answer = alice.predict(source, *mapping[1:], api_name="/remap")
        assert "cannot read" in plain(answer) and not any(v in answer for v in SECRET_VALUES)
        with pytest.raises(AppError, match="cannot read"):
            alice.predict(
                config={"dataset": source, "prompt_column": "user", "reference_column": "api_key"},
                name="probe",
                api_name="/queue_run",
            )
    # The cost line reads the data for its prompt-token estimate only from a readable upload.
    values = config_to_values(RunConfig(dataset=str(creds), prompt_column="user", reference_column="api_key"))
    for client in (visitor, alice):
        assert "Prompt tokens" not in client.predict(*values, api_name="/describe_cost")
    assert not (tmp_path / "hf").exists()  # the folder was never loaded as a dataset


def test_a_readable_upload_is_mapped_without_quoting_its_cells(served, tmp_path):
    app, _ = served
    uploads = tmp_path / "home" / "uploads"
    uploads.mkdir(parents=True)
    data = uploads / "0123456789abcdef.csv"
    data.write_text(f"prompt,reference,fold\nq1,a1,{SECRET_VALUES[0]}\nq2,a2,train\n")
    alice = token_client(app.local_url)
    answer = plain(alice.predict(str(data), "prompt", "reference", "fold", "test", api_name="/remap"))
    assert "the 'fold' column holds 'train', 1 other value(s)" in answer and SECRET_VALUES[0] not in answer
    values = config_to_values(RunConfig(dataset=str(data)))
    assert "Prompt tokens" in alice.predict(*values, api_name="/describe_cost")


def test_handlers_cannot_be_called_past_the_queue_and_heavy_work_is_bounded(served):
    app, _ = served
    direct = httpx.post(app.local_url + "gradio_api/run/remap", json={"data": ["/etc/hosts", "a", "b", "c", "d"]})
    assert direct.status_code == 404 and "does not accept direct HTTP POST" in direct.text

    limit = WorkLimit("testing", slots=2, wait_s=0.2)
    release, entered = threading.Event(), threading.Semaphore(0)

    @limit
    def slow_parse() -> str:
        entered.release()
        release.wait(30)
        return "parsed"

    with concurrent.futures.ThreadPoolExecutor(3) as pool:
        first, second = pool.submit(slow_parse), pool.submit(slow_parse)
        entered.acquire(timeout=30), entered.acquire(timeout=30)
        with pytest.raises(Exception, match="busy testing for 2 other request"):
            pool.submit(slow_parse).result(timeout=30)
        release.set()
        assert (first.result(timeout=30), second.result(timeout=30)) == ("parsed", "parsed")


def test_no_stored_value_can_break_a_read_for_other_clients(served, store):
    app, visitor = served
    alice = token_client(app.local_url)
    for config, field in [
        ({"max_steps": 10**30}, "max_steps"),
        ({"num_generations": 10**9}, "num_generations"),
        ({"max_completion_length": 10**12}, "max_completion_length"),
        ({"lora_r": 10**9}, "lora_r"),
        ({"model": "m" * 10**6}, "model"),
    ]:
        with pytest.raises(AppError, match=f"{field} (must be at most|has at most)"):
            alice.predict(config=config, name="huge", api_name="/queue_run")
    with pytest.raises(AppError, match="at most 200 characters"):
        alice.predict(config={}, name="n" * 10_000, api_name="/queue_run")
    assert store.list_runs() == [] and visitor.predict(api_name="/list_runs") == []
    alice.predict(config={"max_steps": 10**6}, name="a million steps is a real request", api_name="/queue_run")
    assert [run["total_steps"] or run["config"]["max_steps"] for run in visitor.predict(api_name="/list_runs")] == [
        10**6
    ]


def test_password_guessing_is_throttled_without_holding_back_a_right_login(served, capsys):
    app, _ = served
    login_url = app.local_url + "nover/login"

    def attempt(password: str, address: str) -> httpx.Response:
        return httpx.post(
            login_url, json={"user": "alice", "password": password}, headers={"X-Forwarded-For": address}, timeout=30
        )

    assert attempt("wonder land", "1.1.1.1").status_code == 200  # alice's usual address
    with concurrent.futures.ThreadPoolExecutor(24) as pool:
        answers = list(pool.map(lambda i: attempt(f"guess {i}", "6.6.6.6"), range(120)))
    checked = [a for a in answers if "wrong user name or password" in a.json()["message"]]
    # One address: a few typos are checked, then the user name slows down and the address locks out.
    assert 1 <= len(checked) <= ADDRESS_FAILURES and {a.status_code for a in answers} == {401}
    assert "too many failed logins" in attempt("wonder land", "6.6.6.6").json()["message"]
    # Guesses from many addresses at once neither lock alice out where she logs in nor queue her behind them.
    with concurrent.futures.ThreadPoolExecutor(21) as pool:
        flood = [pool.submit(attempt, f"again {i}", f"8.8.{i}.1") for i in range(20)]
        right = pool.submit(attempt, "wonder land", "1.1.1.1")
        assert right.result().status_code == 200
        assert all(future.result().status_code == 401 for future in flood)
    err = capsys.readouterr().err
    assert "Traceback" not in err and err.count("failed login for user 'alice'") >= len(checked)


def test_a_login_is_a_cookie_the_server_issued_that_logout_and_expiry_end(served, store, clock):
    app, visitor = served
    url = app.local_url
    answer = httpx.post(url + "nover/login", json={"user": "alice", "password": "wonder land"})
    cookie = answer.headers["set-cookie"]
    assert answer.status_code == 200 and "Logged in as" in answer.json()["message"]
    assert all(part in cookie.lower() for part in ("httponly", "samesite=strict", "path=/"))
    token = answer.cookies[COOKIE_NAME]
    browser = Client(url, verbose=False, headers={"Cookie": f"{COOKIE_NAME}={token}"})
    first = browser.predict(config={}, name="with the cookie", api_name="/queue_run")

    # Another site cannot use the browser's login, nor log it in.
    cross_site = Client(
        url, verbose=False, headers={"Cookie": f"{COOKIE_NAME}={token}", "Origin": "https://evil.example"}
    )
    with pytest.raises(AppError, match="refused to cancel runs: the request comes from another site"):
        cross_site.predict(run_id=first["id"], api_name="/cancel_run")
    cross = httpx.post(
        url + "nover/login",
        json={"user": "alice", "password": "wonder land"},
        headers={"Origin": "https://evil.example"},
    )
    assert cross.status_code == 403 and "set-cookie" not in cross.headers

    httpx.post(url + "nover/logout", cookies={COOKIE_NAME: token})
    with pytest.raises(AppError, match="log in to cancel runs"):  # a captured cookie is dead after logout
        browser.predict(run_id=first["id"], api_name="/cancel_run")

    again = httpx.post(url + "nover/login", json={"user": "alice", "password": "wonder land"}).cookies[COOKIE_NAME]
    later = Client(url, verbose=False, headers={"Cookie": f"{COOKIE_NAME}={again}"})
    second = later.predict(config={}, name="before it expires", api_name="/queue_run")
    clock.now += 3601
    with pytest.raises(AppError, match="log in to cancel runs"):
        later.predict(run_id=second["id"], api_name="/cancel_run")
    assert [run.status for run in store.list_runs()] == ["queued", "queued"]


def test_uploads_of_a_visitor_are_refused_before_they_are_stored(served):
    app, _ = served
    upload_dir = Path(app.server_app.uploaded_file_dir)

    def stored() -> list[Path]:
        return sorted(p for p in upload_dir.rglob("*") if p.is_file()) if upload_dir.exists() else []

    before = stored()
    refused = httpx.post(
        app.local_url + "gradio_api/upload", files={"files": ("data.csv", b"prompt,reference\nq,a\n", "text/csv")}
    )
    assert refused.status_code == 403 and "log in to upload files" in refused.text
    assert stored() == before
    token = token_client(app.local_url).headers[TOKEN_HEADER]
    kept = httpx.post(
        app.local_url + "gradio_api/upload",
        headers={TOKEN_HEADER: token},
        files={"files": ("data.csv", b"prompt,reference\nq,a\n", "text/csv")},
    )
    assert kept.status_code == 200 and json.loads(kept.text)[0].endswith("data.csv")


def test_a_huge_search_is_refused_with_the_limit(served):
    app, visitor = served
    answer = visitor.predict(None, "x" * 10**7, api_name="/search")
    assert "at most 200 characters" in answer and "10,000,000" in answer


def test_saved_configs_and_exports_leave_a_bounded_number_of_files(served, tmp_path):
    app, visitor = served
    values = config_to_values(RunConfig())
    for _ in range(MAX_FILES + 4):
        saved = visitor.predict(*values, api_name="/save")
    assert json.loads(Path(saved["value"]).read_text())["max_steps"] == RunConfig().max_steps
    folder = Downloads.for_home(tmp_path / "home").root
    assert 0 < len(list(folder.iterdir())) <= MAX_FILES


def test_a_demo_dashboard_opens_no_file_and_keeps_no_upload(store, tmp_path, creds):
    app, visitor = serve(store, tmp_path / "home", Access(read_only=True, read_only_message="a read-only demo"))
    try:
        answer = visitor.predict(str(creds), "user", "api_key", "password", "zzz", api_name="/remap")
        assert "a read-only demo" in plain(answer) and not any(v in answer for v in SECRET_VALUES)
        refused = httpx.post(
            app.local_url + "gradio_api/upload", files={"files": ("data.csv", b"prompt,reference\nq,a\n", "text/csv")}
        )
        assert refused.status_code == 403 and "a read-only demo" in refused.text
    finally:
        app.close()


def test_each_session_keeps_a_bounded_number_of_uploads(store, tmp_path):
    dashboard = Dashboard.over(store, tmp_path / "home", Access(), UploadLimits(per_session=2))
    page = SimpleNamespace(headers={}, cookies={}, session_hash="page-1", client=None)
    for i in range(3):
        upload = tmp_path / f"gradio-cache-{i}" / "data.csv"
        upload.parent.mkdir()
        upload.write_text(f"prompt,reference\nq{i},a\n")
        if i < 2:
            assert dashboard.keep_upload(str(upload), page).path.parent == tmp_path / "home" / "uploads"
    with pytest.raises(DataError, match="uploaded 2 files, the most one session may"):
        dashboard.keep_upload(str(upload), page)
    assert not upload.exists()  # a refused upload leaves Gradio's cache at once
    other_page = SimpleNamespace(headers={}, cookies={}, session_hash="page-2", client=None)
    assert dashboard.keep_upload(str(tmp_path / "gradio-cache-0" / "data.csv"), other_page)
