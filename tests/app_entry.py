"""`python -m tests.app_entry ARGS`: the real app (app.py ARGS) whose workers run tests.worker_entry.

So a test can kill the real app while its real worker process trains with the stand-in trainer; the
workers' step time comes from NOVER_TEST_STEP_SECONDS, which they inherit.
"""

import sys

import app

if __name__ == "__main__":
    sys.exit(app.main(sys.argv[1:], worker_module="tests.worker_entry"))
