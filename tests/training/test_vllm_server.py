"""A run's vLLM server (training/vllm_server.py, wired in training/execute.py), with a stand-in process in its
place: vLLM needs CUDA. The stand-in answers the health path `trl vllm-serve` serves, or fails, or never answers."""

import importlib.util
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from storage import Store
from tests.helpers import free_port, stepping_trainer, wait_for
from training.config import RunConfig
from training.execute import run_training
from training.run import main
from training.vllm_server import GenerationServer, ServerFailed, health_url, serve_argv, server_env

STAND_IN = str(Path(__file__).resolve().parents[1] / "vllm_stand_in.py")


def server_config(**overrides) -> RunConfig:
    values = dict(generation="vllm", vllm_mode="server", vllm_server_gpus="1", vllm_server_port=free_port())
    return RunConfig(max_steps=3, checkpoint_steps=0, **{**values, **overrides})


def stand_in(mode: str):
    """The argv run_training starts instead of `trl vllm-serve`: the stand-in in `mode` on the run's port."""
    return lambda config, home: [sys.executable, STAND_IN, mode, str(config.vllm_server_port)]


def listening(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def start(mode: str, config: RunConfig) -> GenerationServer:
    return GenerationServer(stand_in(mode)(config, None), server_env(config, {}), health_url(config))


def test_the_server_command_is_one_trl_vllm_serve_accepts_and_names_the_run_s_gpus():
    config = server_config(vllm_server_gpus="2,3", vllm_server_port=8123)
    # TRL's own parser reads it and turns it into vLLM's command line; only vLLM itself is missing here.
    translated = subprocess.run(
        serve_argv(config, "/models/m"), capture_output=True, text=True, timeout=120, check=False
    ).stderr
    assert "vllm serve /models/m --host 127.0.0.1 --port 8123 --tensor-parallel-size 2 " in translated
    assert server_env(config, {"PATH": "/bin"}) == {"PATH": "/bin", "CUDA_VISIBLE_DEVICES": "2,3"}
    with pytest.raises(ServerFailed, match=r"names GPU 3, but this worker sees only 2 \(CUDA_VISIBLE_DEVICES=4,5\)"):
        server_env(config, {"CUDA_VISIBLE_DEVICES": "4,5"})


def test_a_server_is_ready_once_it_answers_and_stops_on_sigterm():
    server = start("serve", server_config())
    assert server.wait_ready(60, should_stop=lambda: False)
    lines = server.stop()
    assert lines.splitlines() == [
        "stand-in: CUDA_VISIBLE_DEVICES=1",
        f"stand-in: serving on port {server.url.split(':')[2].split('/')[0]}",
        "stand-in: stopped by SIGTERM",
    ]


def test_a_server_that_exits_fails_at_once_and_one_that_never_answers_fails_after_the_timeout_and_is_killed():
    failing = start("fail", server_config())
    with pytest.raises(ServerFailed, match="exited with code 1 before it answered"):
        failing.wait_ready(60, should_stop=lambda: False)
    assert "CUDA out of memory" in failing.stop()
    silent = start("silent", server_config())
    with pytest.raises(ServerFailed, match=r"did not answer http://127\.0\.0\.1:\d+/health within 0\.5 s"):
        silent.wait_ready(0.5, should_stop=lambda: False)
    assert silent.stop(grace_s=0.5).endswith("stand-in: ignoring SIGTERM")  # then SIGKILL, or stop would not return


@pytest.mark.parametrize("ending", ["succeeded", "failed", "cancelled", "shutdown"])
def test_the_run_s_server_is_stopped_however_the_run_ends_and_its_lines_kept(store, tmp_path, ending):
    config = server_config()
    run = store.create_run("r", config.to_dict())
    shutdown = threading.Event()
    inner = stepping_trainer()

    def trainer(config, sink, context):
        if ending == "failed":
            raise RuntimeError("boom")
        if ending == "cancelled":
            store.request_cancel(run.id)
        if ending == "shutdown":
            shutdown.set()
        inner(config, sink, context)

    done = run_training(
        store, store.claim_next_run("w"), config, trainer, tmp_path, shutdown, server_argv=stand_in("serve")
    )
    assert done.status == ("failed" if ending == "shutdown" else ending)
    assert done.generation_server_log is not None and done.generation_server_log.endswith("stopped by SIGTERM")


@pytest.mark.parametrize(
    ("mode", "timeout", "why"),
    [("fail", 60.0, "exited with code 1 before it answered"), ("mute", 1.0, "did not answer")],
)
def test_a_server_that_does_not_start_fails_the_run_with_its_last_lines(store, tmp_path, mode, timeout, why):
    config = server_config(vllm_server_timeout=timeout)
    run = store.create_run("r", config.to_dict())
    trained = []
    done = run_training(
        store, store.claim_next_run("w"), config, lambda *_: trained.append(1), tmp_path, server_argv=stand_in(mode)
    )
    assert (done.id, done.status, trained) == (run.id, "failed", [])
    assert why in done.error and "CUDA_VISIBLE_DEVICES=1" in done.error
    assert "stand-in: CUDA_VISIBLE_DEVICES=1" in done.generation_server_log


def test_a_run_without_a_server_of_its_own_starts_none(store, tmp_path):
    config = server_config(vllm_server_gpus="")  # a server already running elsewhere
    store.create_run("r", config.to_dict())
    done = run_training(store, store.claim_next_run("w"), config, stepping_trainer(), tmp_path, server_argv=None)
    assert (done.status, done.generation_server_log) == ("succeeded", None)


@pytest.mark.parametrize("stop", ["cancel", "shutdown"])
def test_a_run_cancelled_or_shut_down_while_its_server_starts_stops_it_and_trains_nothing(store, tmp_path, stop):
    config = server_config()
    run = store.create_run("r", config.to_dict())
    claimed, shutdown, trained = store.claim_next_run("w"), threading.Event(), []

    def stop_once_it_listens():
        wait_for(lambda: listening(config.vllm_server_port), what="the stand-in server to listen")
        if stop == "cancel":
            store.request_cancel(run.id)  # as the UI would, while the server loads its model
        else:
            shutdown.set()

    stopper = threading.Thread(target=stop_once_it_listens)
    stopper.start()
    done = run_training(
        store, claimed, config, lambda *_: trained.append(1), tmp_path, shutdown, server_argv=stand_in("mute")
    )
    stopper.join()
    assert (done.status, trained) == ("cancelled" if stop == "cancel" else "failed", [])
    assert done.generation_server_log == "stand-in: CUDA_VISIBLE_DEVICES=1"


@pytest.mark.skipif(importlib.util.find_spec("vllm") is not None, reason="with vllm installed the server would start")
def test_a_run_started_from_the_command_line_starts_its_own_server_and_fails_with_its_lines(tmp_path, model_home):
    db = f"sqlite:///{tmp_path / 'cli.db'}"
    port = free_port()
    # '"1"', as command_line writes it: a bare 1 reads as a number, and vllm_server_gpus is text.
    words = ["generation=vllm", "vllm_mode=server", 'vllm_server_gpus="1"', f"vllm_server_port={port}", "max_steps=1"]
    code = main([word for setting in words for word in ("--set", setting)] + ["--home", str(model_home), "--db", db])
    [run] = Store(db).list_runs()
    # The real `trl vllm-serve`, which on this machine finds no vllm to run.
    assert (code, run.status) == (1, "failed")
    assert "exited with code 1 before it answered" in run.error and "No module named 'vllm'" in run.error
