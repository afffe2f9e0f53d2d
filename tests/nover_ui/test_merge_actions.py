"""The merged-model actions on a real SQLite Store, without a model: queueing a merge with its card's facts, finding
and zipping the merged folder, the Evaluate tab's row, and the Hub push up to the network: huggingface_hub's HfApi
talks to a loopback HTTP server started here, which records each request and answers as the Hub refuses."""

import http.server
import json
import threading
import zipfile

import gradio as gr
import pytest

from nover_ui.access import READ_ONLY_MESSAGE, Access
from nover_ui.hub_push import repo_id_problem
from nover_ui.merge_actions import MergeRefused, merged_path, merged_zip, push_merged, queue_merge
from nover_ui.merge_panel import build_merge_panel, merge, merged_file, poll, push
from nover_ui.places import Places
from nover_ui.safe_text import markdown_text
from storage import CheckpointNotFound, Status
from tests.nover_ui.tab_fixtures import dashboard
from training.job_config import MergeJob, job_from_dict

RUN = {"model": "org/Tiny-Model", "dataset": "/up/3f9a.csv", "dataset_name": "econ <b>.csv"}


@pytest.fixture
def home(tmp_path):
    return tmp_path / "home"


@pytest.fixture
def run(store):
    run = store.create_run("gsm8k [run](x)", RUN)
    store.add_checkpoint(run.id, 2, "/ckpt/2")
    return run


def finish_merge(store, run_id, step, folder, status=Status.SUCCEEDED):
    job = store.queue_evaluation("merge", "org/Tiny-Model", "d", {}, run_id, step)
    assert store.claim_next_evaluation("w").id == job.id
    return store.finish_evaluation(job.id, status, {"path": str(folder), "bytes": 2**21})


def merged_folder(home, run_id, step=2):
    folder = home / "exports" / f"run-{run_id}-step-{step}-merged"
    folder.mkdir(parents=True)
    (folder / "config.json").write_text("{}")
    (folder / "model.safetensors").write_bytes(b"\0" * 1000)
    return folder


def test_a_merge_is_queued_with_the_cards_facts_once_per_checkpoint(store, run, home):
    store.start_run(run.id, "w")
    store.record_heldout_evaluation(run.id, 2, {}, {"eval/accuracy": 0.25, "eval/format_valid": 1.0}, [])
    done = store.queue_evaluation("evaluation", "m", "d", {"split": "test"}, run.id, 2)
    store.claim_next_evaluation("w")
    store.finish_evaluation(done.id, Status.SUCCEEDED, {"format_valid_rate": 0.5, "note": "text is left out"})
    job = queue_merge(store, run.id, 2, Places(home))
    assert (job.kind, job.run_id, job.checkpoint_step, job.status) == ("merge", run.id, 2, Status.QUEUED)
    card = job_from_dict("merge", job.config).card
    assert isinstance(job_from_dict("merge", job.config), MergeJob)
    assert (card.run_name, card.data_name, card.step) == ("gsm8k [run](x)", "econ <b>.csv", 2)
    assert card.heldout == {"eval/accuracy": 0.25, "eval/format_valid": 1.0}
    assert (card.evaluation_id, card.evaluation_split, card.evaluation_metrics) == (
        done.id,
        "test",
        {"format_valid_rate": 0.5},
    )
    assert queue_merge(store, run.id, 2, Places(home)).id == job.id  # still queued: no second job


def test_a_missing_checkpoint_or_merge_is_refused_naming_what_there_is(store, run, home):
    with pytest.raises(CheckpointNotFound, match="2"):
        queue_merge(store, run.id, 5, Places(home))
    with pytest.raises(MergeRefused, match="has not been merged yet: click Merge first"):
        merged_path(store, run.id, 2, home)
    finish_merge(store, run.id, 2, "/elsewhere/run-1-step-2-merged")
    with pytest.raises(MergeRefused, match="is not in this dashboard's .*exports"):
        merged_path(store, run.id, 2, home)
    assert store.list_evaluations(kind="merge")[0].status == Status.SUCCEEDED


def test_the_merged_folder_is_zipped_whole(store, run, home, tmp_path):
    folder = merged_folder(home, run.id)
    finish_merge(store, run.id, 2, folder)
    path = merged_zip(store, run.id, 2, home, dashboard(store, home).downloads)
    assert path.name == f"run-{run.id}-step-2-merged.zip"
    with zipfile.ZipFile(path) as archive:
        assert sorted(archive.namelist()) == ["config.json", "model.safetensors"]
        assert {info.compress_type for info in archive.infolist()} == {zipfile.ZIP_STORED}


class FakeHub:
    """A loopback HTTP server standing where the Hub is: it records each request and answers 200 to the paths in
    `accept`, 403 with the Hub's JSON error to any other."""

    def __init__(self, accept=()):
        self.requests, self.accept = [], set(accept)
        hub = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                hub.requests.append((self.command, self.path, self.headers.get("authorization"), body))
                ok = self.path in hub.accept
                self.send_response(200 if ok else 403)
                self.send_header("content-type", "application/json")
                self.end_headers()
                answer = {"url": f"{hub.url}/alice/nover-m"} if ok else {"error": "no write access to alice"}
                self.wfile.write(json.dumps(answer).encode())

            do_GET = do_POST

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        # A short poll interval: shutdown() waits for the serving loop's next look (0.5 s by default).
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.02,), daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def hub():
    hubs = []
    yield lambda accept=(): hubs.append(FakeHub(accept)) or hubs[-1]
    for fake in hubs:
        fake.close()


def test_a_refused_repository_reaches_the_person_with_the_hubs_reason(store, run, home, hub):
    finish_merge(store, run.id, 2, merged_folder(home, run.id))
    fake = hub()
    with pytest.raises(MergeRefused) as refused:
        push_merged(store, run.id, 2, " alice/nover-m ", home, token="hf_secret", endpoint=fake.url)
    assert str(refused.value).startswith("the Hub refused to create the repository alice/nover-m (HTTP 403): ")
    assert "no write access to alice; check that HF_TOKEN is a token with write access" in str(refused.value)
    method, path, auth, body = fake.requests[0]
    assert (method, path, auth) == ("POST", "/api/repos/create", "Bearer hf_secret")
    assert json.loads(body) == {"name": "nover-m", "organization": "alice", "visibility": "private", "type": "model"}


def test_after_the_repository_the_folder_goes_to_the_upload(store, run, home, hub):
    finish_merge(store, run.id, 2, merged_folder(home, run.id))
    fake = hub(accept={"/api/repos/create"})
    with pytest.raises(MergeRefused, match="refused to upload run-1-step-2-merged to alice/nover-m \\(HTTP 403\\)"):
        push_merged(store, run.id, 2, "alice/nover-m", home, token="hf_secret", endpoint=fake.url)
    method, path, auth, body = fake.requests[1]
    assert (method, path, auth) == ("POST", "/api/models/alice/nover-m/preupload/main", "Bearer hf_secret")
    assert sorted(f["path"] for f in json.loads(body)["files"]) == ["config.json", "model.safetensors"]


@pytest.mark.parametrize(
    "repo_id, token, message",
    [
        ("alice/m", None, "needs a token: start the dashboard with HF_TOKEN set"),
        ("nover-m", "t", "repo id must be 'owner/name'"),
        ("alice/m/x", "t", "repo id parts hold letters"),
        ("alice/" + "m" * 100, "t", "repo id has at most 96 characters"),
        ("alice/<script>", "t", "repo id parts hold letters"),
    ],
)
def test_nothing_is_sent_without_a_token_or_with_a_bad_repo_id(
    store, run, home, hub, monkeypatch, repo_id, token, message
):
    monkeypatch.delenv("HF_TOKEN", raising=False)
    finish_merge(store, run.id, 2, merged_folder(home, run.id))
    fake = hub()
    with pytest.raises(MergeRefused, match=message):
        push_merged(store, run.id, 2, repo_id, home, token=token, endpoint=fake.url)
    assert fake.requests == []
    assert repo_id_problem("alice/nover-smollm2.v1_b") is None


@pytest.fixture
def panel(store, home):
    def build(access=None):
        board = dashboard(store, home, access)
        with gr.Blocks():
            run_dd, step_dd, download = gr.Dropdown(), gr.Dropdown(), gr.File()
            return board, build_merge_panel(board, run_dd, step_dd, download)

    return build


def test_the_row_queues_waits_and_offers_the_zip(store, run, home, panel):
    board, row = panel()
    shown = merge(board, row, run.id, 2, None)
    job_id = shown[row.job_state]
    assert shown[row.status_md].startswith(f"Merge job \\#{job_id} of run {run.id} at step 2 is queued")
    assert row.timer.active is False and shown[row.timer].active is True  # the row's timer ticks only while it waits
    assert poll(store, row, job_id) == {row.status_md: gr.skip(), row.job_state: gr.skip(), row.timer: gr.skip()}
    store.claim_next_evaluation("w")
    store.finish_evaluation(job_id, Status.SUCCEEDED, {"path": str(merged_folder(home, run.id)), "bytes": 2**21})
    ended = poll(store, row, job_id)
    assert ended[row.job_state] is None and ended[row.status_md].startswith("Merged model of run")
    assert ended[row.timer].active is False
    assert merged_file(board, row, run.id, 2)[row.download_file]["value"].endswith("-merged.zip")
    assert poll(store, row, None)[row.timer].active is False


def test_the_row_refuses_writes_to_a_read_only_dashboard(store, run, home, panel):
    board, row = panel(Access(read_only=True))
    assert merge(board, row, run.id, 2, None)[row.status_md] == markdown_text(READ_ONLY_MESSAGE)
    assert push(board, row, run.id, 2, "alice/m", None)[row.status_md].startswith("Not pushed\\: this dashboard")
    assert store.list_evaluations() == []
