"""`trtbuild coverage [RECIPES...]`: fresh make + verify per recipe, and the coverage table in the docs."""

from __future__ import annotations

from pathlib import Path

import click
from rich.table import Table

from ..errors import TrtbuildError
from .output import emit_json, err, error, out


def coverage_table(rows: list) -> Table:
    from ..coverage import HEADER

    table = Table()
    for col in HEADER:
        table.add_column(col, justify="left" if col in ("model", "torch-fallback ops") else "right")
    for row in rows:
        table.add_row(*(cell.replace("`", "") for cell in row.cells()))
    return table


def _progress(name: str):
    return lambda stage: err.print(f"{name}: {stage}")


@click.command("coverage")
@click.argument("recipes", nargs=-1)
@click.option("--doc", "doc", default="docs/coverage.md", show_default=True,
              help="Markdown file whose table (between the coverage markers) is regenerated.")
@click.option("--no-doc", is_flag=True, help="Only print the table; leave the docs alone.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document on stdout.")
def command(recipes: tuple[str, ...], doc: str, no_doc: bool, as_json: bool) -> int:
    """Build and verify RECIPES from scratch (default: recipes/zoo) and regenerate the coverage table."""
    from ..coverage import CoverageRow, measure, write_table
    from ..recipe import find_recipes, load_recipe

    rows, code = [], 0
    for path in find_recipes(list(recipes) or ["recipes/zoo"]):
        try:
            recipe = load_recipe(path)
        except TrtbuildError as exc:
            error(str(exc))
            rows.append(CoverageRow(path.stem, error=str(exc)))
            code = max(code, exc.exit_code)
            continue
        rows.append(measure(recipe, None if as_json else _progress(recipe.display_name)))
        if rows[-1].error or not rows[-1].verified:
            code = max(code, 1)
    if not no_doc:
        write_table(Path(doc), rows)
    if as_json:
        emit_json({"recipes": [r.report() for r in rows]})
    else:
        out.print(coverage_table(rows))
    return code
