"""`python -m bench.claims_worker_entry ARGS`: the real worker process (training.worker.main, ARGS its own) with the
stand-in trainer of tests/helpers.py and a stand-in job function, as bench/bench_claims.py starts many of them."""

import sys
from pathlib import Path
from typing import Any

from storage import EvaluationRecord
from tests.helpers import stepping_trainer
from training import worker
from training.job_config import Job
from training.needs import Capabilities


def answer_job(job: Job, evaluation: EvaluationRecord, checkpoints: Any, home: Path) -> tuple[list[dict], dict]:
    """A stand-in for training.jobs.execute: one sample and one metric, no model."""
    return [dict(sample_index=0, prompt="q", reference="r", completion="c")], {"samples": 1.0}


if __name__ == "__main__":
    # What the stand-in trainer can train, said rather than detected: detecting imports torch (seconds per worker).
    stand_in = Capabilities(bitsandbytes=True, torch="stand-in")
    sys.exit(worker.main(sys.argv[1:], train_fn=stepping_trainer(), capabilities=stand_in, job_fn=answer_job))
