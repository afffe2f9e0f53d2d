"""The dashboard's API through gradio_client, against the real app served in this process."""

import pytest
from gradio_client import Client
from gradio_client.exceptions import AppError

from nover_ui.access import TOKEN_HEADER, Access
from nover_ui.app import build_app
from nover_ui.login_routes import server_extensions
from storage import Store
from tests.helpers import free_port, step_rows
from tests.readers import CountingStore, poll_together

READERS = 6


def serve(store: Store, home, access: Access | None = None, **build):
    """The app as app.py launches it (its login routes and upload guard included), served in this process."""
    access = access or Access()
    app = build_app(store, home, access, **build)
    app.launch(server_port=free_port(), prevent_thread_lock=True, quiet=True, app_kwargs=server_extensions(access))
    return app, Client(app.local_url, verbose=False)


@pytest.fixture
def api(store, tmp_path):
    app, client = serve(store, tmp_path)
    yield client
    app.close()


def test_queue_list_and_cancel_a_run(api, store):
    run = api.predict(config={"max_steps": 2, "num_generations": 4}, name="from the api", api_name="/queue_run")
    assert (run["name"], run["status"], run["config"]["num_generations"]) == ("from the api", "queued", 4)
    assert [r["id"] for r in api.predict(api_name="/list_runs")] == [run["id"]]
    assert api.predict(run_id=run["id"], api_name="/cancel_run")["status"] == "cancelled"
    assert store.get_run(run["id"]).status == "cancelled"
    with pytest.raises(AppError, match="already cancelled"):
        api.predict(run_id=run["id"], api_name="/cancel_run")


def test_a_refused_config_names_the_field_and_queues_nothing(api, store):
    with pytest.raises(AppError, match="num_generations must be >= 2"):
        api.predict(config={"num_generations": 1}, name="bad", api_name="/queue_run")
    with pytest.raises(AppError, match="did you mean 'max_steps'"):
        api.predict(config={"max_stpes": 1}, name="bad", api_name="/queue_run")
    assert store.list_runs() == []


def test_metrics_and_rollouts_of_a_run(api, store):
    run = store.start_run(store.create_run("r", {}).id, "w")
    store.log_step(run.id, 1, metrics={"reward": 0.5, "loss": 1.0}, rollouts=step_rows(1, 2))
    store.log_step(run.id, 2, metrics={"reward": 1.5}, rollouts=step_rows(1, 3))
    metrics = api.predict(run_id=run.id, keys=["reward"], api_name="/get_metrics")
    assert list(metrics) == ["reward"]
    assert metrics["reward"]["steps"] == [1, 2] and metrics["reward"]["values"] == [0.5, 1.5]
    assert set(api.predict(run_id=run.id, keys=None, api_name="/get_metrics")) == {"reward", "loss"}
    latest = api.predict(run_id=run.id, step=None, api_name="/get_rollouts")
    assert [(r["step"], r["sample_index"]) for r in latest] == [(2, 0), (2, 1), (2, 2)]
    first = api.predict(run_id=run.id, step=1, api_name="/get_rollouts")
    assert len(first) == 2 and first[0]["reward_reasoning"] == 0.5 and first[0]["prompt"] == "question 0?"
    with pytest.raises(AppError, match="does not exist"):
        api.predict(run_id=999, api_name="/cancel_run")


def test_many_readers_polling_a_run_cost_one_database_read_per_change(tmp_path):
    store = CountingStore(f"sqlite:///{tmp_path / 'counted.db'}")
    app, client = serve(store, tmp_path)
    clients = [client, *(Client(app.local_url, verbose=False) for _ in range(READERS - 1))]
    try:
        run = store.start_run(store.create_run("r", {}).id, "w")
        store.reads.clear()  # building the Train tab read the runs once, for its time estimate
        for step in (1, 2):
            store.log_step(run.id, step, metrics={"reward": 0.5, "loss": 1.0}, rollouts=step_rows(), heartbeat=True)
            logs = poll_together(clients, run.id, polls=1)
            assert [(log.problems, log.last_steps) for log in logs] == [([], [step])] * READERS
            # READERS polls of each endpoint; the runs list is read once for all three endpoints
            reads = (store.reads["list_runs"], store.reads["get_metrics"], store.reads["get_rollouts"])
            assert reads == (step, step, step)
    finally:
        for reader in clients:
            reader.close()
        app.close()
        store.close()


def test_read_only_mode_refuses_every_change(store, tmp_path):
    queued = store.create_run("r", {})
    app, client = serve(store, tmp_path, Access(read_only=True))
    try:
        with pytest.raises(AppError, match="read-only"):
            client.predict(config={}, name="x", api_name="/queue_run")
        with pytest.raises(AppError, match="read-only"):
            client.predict(run_id=queued.id, api_name="/cancel_run")
        assert [r["status"] for r in client.predict(api_name="/list_runs")] == ["queued"]
    finally:
        app.close()


@pytest.fixture
def guarded(store, tmp_path):
    app, _ = serve(store, tmp_path, Access(passwords={"alice": "s3cret:x"}))
    yield app
    app.close()


def test_with_logins_configured_each_write_is_refused_until_the_client_sends_a_login_token(guarded, store):
    queued = store.create_run("someone's", {})
    reader = Client(guarded.local_url, verbose=False)
    with pytest.raises(AppError, match="log in to queue runs: call the /login endpoint"):
        reader.predict(config={}, name="x", api_name="/queue_run")
    with pytest.raises(AppError, match="log in to cancel runs"):
        reader.predict(run_id=queued.id, api_name="/cancel_run")
    with pytest.raises(AppError, match="wrong user name or password"):
        reader.predict(username="alice", password="s3cret", api_name="/login")
    with pytest.raises(AppError, match="wrong user name or password"):
        reader.predict(username="mallory", password="s3cret:x", api_name="/login")
    # Reading needs no login.
    assert [r["status"] for r in reader.predict(api_name="/list_runs")] == ["queued"]
    assert store.get_run(queued.id).status == "queued" and len(store.list_runs()) == 1

    login = reader.predict(username="alice", password="s3cret:x", api_name="/login")
    assert login["user"] == "alice" and len(login["token"]) >= 40
    writer = Client(guarded.local_url, verbose=False, headers={TOKEN_HEADER: login["token"]})
    run = writer.predict(config={"max_steps": 1}, name="by alice", api_name="/queue_run")
    assert writer.predict(run_id=queued.id, api_name="/cancel_run")["status"] == "cancelled"
    assert {r.name: r.status for r in store.list_runs()} == {"someone's": "cancelled", "by alice": "queued"}
    # The login is the token, not the client's session: the client that logged in but sends no token cannot write.
    with pytest.raises(AppError, match="log in to cancel runs"):
        reader.predict(run_id=run["id"], api_name="/cancel_run")
