"""`python -m tests.worker_entry ARGS`: the real worker process, with a stand-in trainer injected.

ARGS are the worker's own, plus --step-seconds for the stand-in trainer's step time.
"""

import sys

from tests.helpers import stepping_trainer
from training import worker

if __name__ == "__main__":
    argv = sys.argv[1:]
    step_s = 0.0
    if "--step-seconds" in argv:
        i = argv.index("--step-seconds")
        step_s = float(argv[i + 1])
        del argv[i:i + 2]
    sys.exit(worker.main(argv, train_fn=stepping_trainer(step_s=step_s)))
