"""Turning a user's config into a queued run: check everything checkable first, so a refused request
creates no row and the person sees why at once rather than in a failed run later."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from nover_ui.places import PlaceRefused, Places
from nover_ui.uploads import UploadLimits
from storage import RunRecord, Store
from training.config import ConfigError, RunConfig
from training.data import load_examples


def queue_run(
    store: Store, name: str, config: dict[str, Any], places: Places, limits: UploadLimits = UploadLimits()
) -> RunRecord:
    """Validate `config` (ConfigError naming the field) and its data (DataError), then queue it as a run.

    The model and the data must be ones the dashboard may open (places.py). The demo set and a data file are
    loaded and cleaned here, within the upload limits; a hub dataset id or a dataset folder is left to the
    worker, which may have network access the dashboard lacks and reads folders without holding the UI.
    """
    validated = RunConfig.from_dict(config)
    try:
        places.check_model(validated.model)
    except PlaceRefused as exc:
        raise ConfigError("model", str(exc)) from None
    places.check_data(validated.dataset)
    if not (places.is_hub_id(validated.dataset) or Path(validated.dataset).expanduser().is_dir()):
        load_examples(
            validated.dataset,
            validated.prompt_column,
            validated.reference_column,
            validated.split_column,
            validated.dataset_split,
            validated.max_prompts,
            max_bytes=limits.max_bytes,
            row_limit=limits.max_rows,
        )
    return store.create_run(name, validated.to_dict())
