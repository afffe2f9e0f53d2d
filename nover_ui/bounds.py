"""Upper bounds on what a person may ask of the dashboard outside a config contract (RunConfig and the job configs
of training/job_config.py carry their own in field metadata): searches, and the data source an evaluation reads."""

from __future__ import annotations

MAX_SEARCH_CHARS = 200
MAX_SOURCE_CHARS = 1024
