"""Turning a user's config into a queued run: check everything checkable first, so a refused request
creates no row and the person sees why at once rather than in a failed run later."""

from __future__ import annotations

from typing import Any

from storage import RunRecord, Store
from training.config import RunConfig
from training.data import is_hub_dataset, load_examples


def queue_run(store: Store, name: str, config: dict[str, Any]) -> RunRecord:
    """Validate `config` (ConfigError naming the field) and its data (DataError), then queue it as a run.

    Local data (the demo set, a file, a folder) is loaded and cleaned here; a hub dataset id is left to the
    worker, which may have network access the dashboard lacks.
    """
    validated = RunConfig.from_dict(config)
    if not is_hub_dataset(validated.dataset):
        load_examples(validated.dataset, validated.prompt_column, validated.reference_column,
                      validated.split_column, validated.dataset_split, validated.max_prompts)
    return store.create_run(name, validated.to_dict())
