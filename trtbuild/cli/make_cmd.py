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


def open_store(cache_dir: str | None, remote: str | None = None, remote_write: bool = False):
    from pathlib import Path

    from ..cache.stores import open_store as open_configured, read_cache_config

    return open_configured(cache_dir, warn=warn, remote=remote, remote_write=remote_write,
                           config=read_cache_config(Path.cwd()))


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
@click.option("--remote-cache", metavar="URL", help="Shared cache: http(s)://... or s3://bucket/prefix "
              "(default: $TRTBUILD_REMOTE_CACHE, then [cache] remote in trtbuild.toml).")
@click.option("--remote-write", is_flag=True, help="Also upload new entries to the remote cache (CI).")
@click.option("--verify", "verify", is_flag=True, help="After building, check numerics like `trtbuild verify`.")
def command(recipes: tuple[str, ...], cache_dir: str | None, out_dir: str | None, as_json: bool,
            verify: bool, remote_cache: str | None = None, remote_write: bool = False) -> int:
    """Build RECIPES (files, globs or folders; default: recipes/)."""
    from ..make import RecipeResult, make_recipe
    from ..recipe import find_recipes, load_recipe

    paths = find_recipes(list(recipes) or ["recipes"])
    store = open_store(cache_dir, remote_cache, remote_write)
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
        elif verify:
            result.verify = _verify(recipe, store, result)
        results.append(result)
    store.close()
    if as_json:
        emit_json({"recipes": [r.report() for r in results]})
    else:
        out.print(make_table([r.report() for r in results]))
        if verify:
            from .verify_cmd import verify_table

            out.print(verify_table([r.verify for r in results if r.verify]))
    code = exit_code_of(results)
    if code == 0 and verify and not all(r.verify and r.verify["ok"] for r in results):
        code = 1
    return code


def _verify(recipe, store, result) -> dict:
    from ..make import verify_recipe

    try:
        return verify_recipe(recipe, store, made=result)
    except TrtbuildError as exc:
        err.print(f"[red]error:[/] verify: {exc}", markup=True, soft_wrap=True)
        return {"name": recipe.display_name, "ok": False, "error": str(exc), "checks": []}
