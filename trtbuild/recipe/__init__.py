"""Recipes: the TOML contract. `load_recipe(path)` returns a validated, immutable `Recipe`."""

from .load import load_recipe, find_recipes
from .schema import Recipe

__all__ = ["Recipe", "load_recipe", "find_recipes"]
