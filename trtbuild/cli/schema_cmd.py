"""`trtbuild schema`: the recipe JSON Schema, for editor completion and validation."""

from __future__ import annotations

import click

from .output import emit_json


@click.command("schema")
def command() -> int:
    """Print the JSON Schema of recipe files."""
    from ..recipe.schema import Recipe

    emit_json(Recipe.model_json_schema())
    return 0
