"""`trtbuild explain RECIPE`: the components of the key, and what changed since the last build."""

from __future__ import annotations

import click

from .output import emit_json, out


@click.command("explain")
@click.argument("recipe")
@click.option("--out-dir", help="Compare with the build in OUT_DIR/<name> instead of the recipe's [output] dir.")
@click.option("--cache-dir", help="Local cache, for a quantized recipe's calibration (default: $TRTBUILD_CACHE_DIR, "
                                  "then ./cache).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document on stdout.")
def command(recipe: str, out_dir: str | None, cache_dir: str | None, as_json: bool) -> int:
    """Show RECIPE's key components and which ones changed since its last build (exports the model)."""
    from ..cache.key import key_of
    from ..explain import calibration_status, components, diff_key_docs, last_key_doc
    from ..make import export_recipe, key_document, output_dir
    from ..recipe import load_recipe

    loaded = load_recipe(recipe)
    doc = key_document(loaded, export_recipe(loaded)[1])
    previous = last_key_doc(output_dir(loaded, out_dir))
    changes = diff_key_docs(previous, doc)
    report = {"name": loaded.display_name, "key": key_of(doc), "last_key": key_of(previous) if previous else None,
              "components": components(doc), "changes": [] if previous and key_of(previous) == key_of(doc) else changes}
    if loaded.quantize is not None:
        from .make_cmd import open_store

        store = open_store(cache_dir)
        try:
            report["calibration"] = calibration_status(doc, store)
        finally:
            store.close()
    if as_json:
        emit_json(report)
        return 0
    out.print(f"[bold]{report['name']}[/]  key {report['key']}")
    for field, value in report["components"].items():
        out.print(f"  {field}: {value}", soft_wrap=True, markup=False)
    if "calibration" in report:
        out.print(f"  calibration: {report['calibration']['says']} ({report['calibration']['key'][:16]})")
    if not report["changes"]:
        out.print("unchanged since the last build")
    else:
        out.print("changes since the last build:")
        for line in report["changes"]:
            out.print(f"  {line}", markup=False, soft_wrap=True)
    return 0
