"""`trtbuild verify RECIPE...`: eager vs reference execution of the built segments, on the CPU."""

from __future__ import annotations

import click
from rich.table import Table

from ..errors import TrtbuildError
from .options import CacheOptions, cache_options
from .output import emit_json, err, error, out, warn


def verify_table(reports: list[dict]) -> Table:
    table = Table()
    quantized = any("vs_float" in o for rep in reports for c in rep.get("checks", []) for o in c["outputs"])
    columns = ("recipe", "check", "input shapes", "output", "max abs", "max rel", "tolerance", "ok")
    for col in columns + (("max rel vs float", "cosine vs float") if quantized else ()):
        table.add_column(col, no_wrap=True, justify="right" if col.startswith(("max", "cos")) else "left")
    for rep in reports:
        if "error" in rep:
            table.add_row(rep["name"], "-", "-", "-", "-", "-", "-", "[red]error[/]", *(("-", "-") if quantized else ()))
            continue
        for check in rep["checks"]:
            for o in check["outputs"]:
                table.add_row(rep["name"], check["shape"], " ".join("x".join(map(str, s)) for s in check["input_shapes"]),
                              o["name"], f"{o['max_abs']:.2e}", f"{o['max_rel']:.2e}", f"rtol {rep['rtol']:g}",
                              "[green]yes[/]" if o["ok"] else "[red]NO[/]", *_vs_float(o, quantized))
    return table


def _vs_float(output: dict, quantized: bool) -> tuple[str, ...]:
    if not quantized:
        return ()
    vs = output.get("vs_float")
    return (f"{vs['max_rel']:.2e}", f"{vs['cosine']:.6f}") if vs else ("-", "-")


def run_verify(paths, store) -> list[dict]:
    from ..make import verify_recipe
    from ..recipe import load_recipe

    reports = []
    for path in paths:
        try:
            recipe = load_recipe(path, warn=warn)
            err.print(f"{recipe.display_name}: verify")
            reports.append(verify_recipe(recipe, store))
        except TrtbuildError as exc:
            error(str(exc), exc.hint)
            reports.append({"name": path.stem, "ok": False, "error": str(exc), "exit_code": exc.exit_code,
                            "checks": []})
    return reports


def exit_code(reports: list[dict]) -> int:
    if any(r.get("exit_code") == 2 for r in reports):
        return 2
    return 0 if all(r["ok"] for r in reports) else 1


@click.command("verify")
@click.argument("recipes", nargs=-1)
@cache_options()
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document on stdout.")
def command(recipes: tuple[str, ...], cache: CacheOptions, as_json: bool) -> int:
    """Check RECIPES numerically: eager PyTorch vs the TensorRT networks evaluated on the CPU."""
    from ..recipe import find_recipes

    paths = find_recipes(list(recipes) or ["recipes"])
    store = cache.open()
    try:
        reports = run_verify(paths, store)
    finally:
        store.close()
    if as_json:
        emit_json({"recipes": [{k: v for k, v in r.items() if k != "exit_code"} for r in reports]})
    else:
        out.print(verify_table(reports))
    return exit_code(reports)
