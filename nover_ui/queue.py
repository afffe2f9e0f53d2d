"""Turning a user's config into a queued run: validate first, so a refused config creates no row."""

from __future__ import annotations

from typing import Any

from storage import RunRecord, Store
from training.config import RunConfig


def queue_run(store: Store, name: str, config: dict[str, Any]) -> RunRecord:
    """Validate `config` as a RunConfig (raising ConfigError naming the field) and queue it as a run."""
    validated = RunConfig.from_dict(config)
    return store.create_run(name, validated.to_dict())
