"""`trtbuild make RECIPE...`"""

from __future__ import annotations

import sys

import click

from ..errors import TrtbuildError
from .output import emit_json, err, make_table, out, warn


def exit_code_of(results: list) -> int:
    codes = [r.exit_code for r in results if r.status == "failed"]
    if not codes:
        return 0
    return 2 if 2 in codes else 1


def open_store(cache_dir: str | None):
    from ..cache.stores import open_store as open_configured

    return open_configured(cache_dir, warn=warn)


def progress_printer(name: str, quiet: bool):
    if quiet:
        return None
    if sys.stderr.isatty():
        status = err.status(f"{name}: starting")

        def show(stage: str) -> None:
            status.update(f"{name}: {stage}")
            status.start()

        show.status = status
        return show
    return lambda stage: err.print(f"{name}: {stage}")


@click.command("make")
@click.argument("recipes", nargs=-1)
@click.option("--cache-dir", help="Local engine cache (default: $TRTBUILD_CACHE_DIR, then ./cache).")
@click.option("--out-dir", help="Write each recipe's output to OUT_DIR/<name> instead of its [output] dir.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document on stdout.")
def command(recipes: tuple[str, ...], cache_dir: str | None, out_dir: str | None, as_json: bool) -> int:
    """Build RECIPES (files, globs or folders; default: recipes/)."""
    from ..make import RecipeResult, make_recipe
    from ..recipe import find_recipes, load_recipe

    paths = find_recipes(list(recipes) or ["recipes"])
    store = open_store(cache_dir)
    results = []
    for path in paths:
        try:
            recipe = load_recipe(path)
        except TrtbuildError as exc:
            results.append(RecipeResult(path.stem, str(path), error=str(exc), exit_code=exc.exit_code))
            err.print(f"[red]error:[/] {exc}", markup=True, soft_wrap=True)
            continue
        show = progress_printer(recipe.display_name, as_json)
        try:
            result = make_recipe(recipe, store, out_dir, show)
        finally:
            if show is not None and hasattr(show, "status"):
                show.status.stop()
        if result.error:
            err.print(f"[red]error:[/] {result.error}", markup=True, soft_wrap=True)
        results.append(result)
    store.close()
    if as_json:
        emit_json({"recipes": [r.report() for r in results]})
    else:
        out.print(make_table([r.report() for r in results]))
    return exit_code_of(results)
