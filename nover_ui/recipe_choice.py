"""The Train tab's Recipe dropdown: a published reward recipe (training/recipe_presets.py) applied over the form,
setting only the reward fields. Pure helpers, no Gradio: the tab wires them."""

from __future__ import annotations

from typing import Any

from nover_ui.safe_text import markdown_text
from training.recipe_presets import RECIPE_NOTES, RECIPES

NO_RECIPE = "(as the form is)"
RECIPE_CHOICES = (NO_RECIPE, *RECIPES)


def recipe_fields(name: str) -> dict[str, Any]:
    """The reward fields the recipe sets, by field name; none for NO_RECIPE.

    >>> recipe_fields("rlpr")["reward"], recipe_fields(NO_RECIPE)
    ('rlpr', {})
    """
    if name == NO_RECIPE:
        return {}
    if name not in RECIPES:
        raise ValueError(f"recipe must be one of {', '.join(RECIPES)}, got {name!r}")
    return dict(RECIPES[name])


def recipe_note(name: str) -> str:
    """The line under the dropdown, as Markdown that shows the text literally."""
    return "" if name == NO_RECIPE else markdown_text(RECIPE_NOTES[name])
