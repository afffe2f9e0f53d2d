"""`python -m tests.worker_entry ARGS`: the real worker process, with a stand-in trainer injected.

ARGS are the worker's own, plus --step-seconds for the stand-in trainer's step time (default: the
NOVER_TEST_STEP_SECONDS variable, set for workers that tests/app_entry.py's app starts, else 0), and
--wait-running N: the worker's first run starts training only once N runs are running in the database (so
that N workers certainly hold a run each at the same time).
"""

import os
import sys

from storage import Store
from tests.helpers import stepping_trainer, wait_for
from training import worker
from training.needs import Capabilities


def first_run_waits(train_fn, db_url: str, running: int):
    waited = False

    def train(config, sink, context):
        nonlocal waited
        if not waited:
            waited = True
            store = Store(db_url)
            wait_for(lambda: len(store.list_runs(["running"])) >= running, 120, f"{running} running runs")
            store.close()
        train_fn(config, sink, context)

    return train


if __name__ == "__main__":
    argv = sys.argv[1:]
    step_s = float(os.environ.get("NOVER_TEST_STEP_SECONDS", "0"))
    if "--step-seconds" in argv:
        i = argv.index("--step-seconds")
        step_s = float(argv[i + 1])
        del argv[i : i + 2]
    train_fn = stepping_trainer(step_s=step_s)
    if "--wait-running" in argv:
        i = argv.index("--wait-running")
        train_fn = first_run_waits(train_fn, argv[argv.index("--db") + 1], int(argv[i + 1]))
        del argv[i : i + 2]
    # The stand-in trainer trains any config a CPU machine with bitsandbytes could; saying so spares each test
    # worker the seconds of importing torch to detect it.
    sys.exit(worker.main(argv, train_fn=train_fn, capabilities=Capabilities(bitsandbytes=True, torch="stand-in")))
