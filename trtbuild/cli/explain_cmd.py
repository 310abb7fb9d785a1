"""`trtbuild explain RECIPE`: the components of the key, and what changed since the last build."""

from __future__ import annotations

import click

from .options import CacheOptions, cache_options
from .output import emit_json, out, warn


@click.command("explain")
@click.argument("recipe")
@cache_options()
@click.option("--out-dir", help="Compare with the build in OUT_DIR/<name> instead of the recipe's [output] dir.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document on stdout.")
def command(recipe: str, cache: CacheOptions, out_dir: str | None, as_json: bool) -> int:
    """Show RECIPE's key components, which ones changed since its last build, and whether the cache
    already holds the build (exports the model; changes nothing)."""
    from ..cache.key import key_of
    from ..explain import calibration_status, components, diff_key_docs, last_key_doc
    from ..make import export_recipe, key_document, output_dir
    from ..recipe import load_recipe
    from ..stamp import previous_build

    loaded = load_recipe(recipe, warn=warn)
    target = output_dir(loaded, out_dir)
    store = cache.open(read_only=True)
    try:
        doc = key_document(loaded, export_recipe(loaded)[1])
        key = key_of(doc)
        # the output dir's last build, else the last one the cache (or remote) recorded for this recipe file
        previous = last_key_doc(target) or (previous_build(loaded, store) or {}).get("key_doc")
        cached = store.get_meta("recipe", key) is not None
        calibration = calibration_status(doc, store) if loaded.quantize is not None else None
    finally:
        store.close()
    changes = diff_key_docs(previous, doc)
    report = {"name": loaded.display_name, "key": key, "last_key": key_of(previous) if previous else None,
              "components": components(doc), "changes": [] if previous and key_of(previous) == key else changes,
              "out_dir": str(target), "cached": cached}
    if calibration is not None:
        report["calibration"] = calibration
    if as_json:
        emit_json(report)
        return 0
    out.print(f"[bold]{report['name']}[/]  key {report['key']}")
    for field, value in report["components"].items():
        out.print(f"  {field}: {value}", soft_wrap=True, markup=False)
    if "calibration" in report:
        out.print(f"  calibration: {report['calibration']['says']} ({report['calibration']['key'][:16]})")
    if not report["changes"]:
        out.print(f"unchanged since the last build into {target}")
    else:
        out.print(f"changes since the last build into {target}:")
        for line in report["changes"]:
            out.print(f"  {line}", markup=False, soft_wrap=True)
    out.print("the cache holds this build: make would reuse it" if cached else
              "the cache does not hold this build: make would build it", markup=False)
    return 0
