"""bench.gpu_check runs its whole code path on CPU with a tiny model, so it cannot rot while no GPU runs it."""

from __future__ import annotations

import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.training.conftest import MODEL_HOME

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_gpu_check_trains_every_case_on_cpu_and_imports_only_the_carried_wheels():
    from bench.gpu_check import CARRIED, CARRIED_NO_DEPS, CASES, requirement_closure

    result = subprocess.run(
        [sys.executable, "-m", "bench.gpu_check", "--device", "cpu", "--tiny", "--steps", "1", "--home", MODEL_HOME],
        cwd=ROOT,
        capture_output=True,
        text=True,
        # One thread: a 3M-parameter model gains nothing from more, and spinning threads stall on a busy machine.
        env={**os.environ, "OMP_NUM_THREADS": "1"},
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    lines = result.stdout.splitlines()
    rows = {  # the columns after the model's name and the case's, as main() prints them
        case.name: line.removeprefix(f"{'tiny':>8} {case.name:>24} ").split()
        for case in CASES
        for line in lines
        if line.startswith(f"{'tiny':>8} {case.name:>24} ")
    }
    for case in CASES:
        if case.overrides.get("generation") == "vllm":
            assert rows[case.name][:2] == ["skipped:", "vLLM"], result.stdout
            continue
        step_s, tokens_per_s, peak, proxy, scoring_share = rows[case.name]
        step_s, tokens_per_s, peak, scoring_share = map(float, (step_s, tokens_per_s, peak, scoring_share))
        proxy_weights = float(proxy.split("/")[0])
        assert step_s > 0 and tokens_per_s > 0, result.stdout
        assert math.isnan(peak)  # no GPU allocator on CPU
        # Weights plus a LoRA proxy over twice the weights: just above one half for any LoRA smaller than the model.
        assert 0.5 < proxy_weights < 0.6, result.stdout
        assert 0 < scoring_share < 1, result.stdout  # every rollout is wrapped in the format, so scoring ran
    imported = result.stdout.split("their requirements: ", 1)[1].splitlines()[0].split(", ")
    carried = requirement_closure(CARRIED) | set(CARRIED_NO_DEPS)
    assert "peft" in imported and set(imported) <= carried, imported
