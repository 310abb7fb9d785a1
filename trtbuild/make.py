"""`make`: one recipe from TOML to an output dir, reusing cached engines where the key matches.

export -> key -> (recipe cache hit: write artifacts) | (compile, store, write artifacts)
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from . import __version__
from .errors import TrtbuildError
from .recipe import Recipe

STATUS = ("built", "cached", "failed")


@dataclass
class RecipeResult:
    name: str
    path: str
    status: str = "failed"
    key: str | None = None
    seconds: float = 0.0
    out_dir: str | None = None
    segments: list[dict[str, Any]] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    error: str | None = None
    exit_code: int = 0
    verify: dict[str, Any] | None = None
    # in-process only (not reported): reused by `make --verify`
    model: Any = None
    program: Any = None

    def report(self) -> dict[str, Any]:
        return {"name": self.name, "path": self.path, "status": self.status, "key": self.key,
                "seconds": round(self.seconds, 3), "out_dir": self.out_dir, "segments": self.segments,
                "timings": {k: round(v, 3) for k, v in self.timings.items()}, "error": self.error,
                **({"verify": self.verify} if self.verify is not None else {})}


def output_dir(recipe: Recipe, out_root: str | None) -> Path:
    if out_root:
        return Path(out_root) / recipe.display_name
    return Path(recipe.output.dir or f"build/{recipe.display_name}")


def export_recipe(recipe: Recipe) -> tuple[Any, Any]:
    """(eager model, ExportedProgram). A saved program is its own eager reference."""
    from .export import build_model, load_program, trace

    if recipe.model.program:
        program = load_program(recipe)
        return program.module(), program
    model = build_model(recipe)
    return model, trace(model, recipe.compile_inputs())


def make_recipe(recipe: Recipe, store: Any, out_root: str | None = None,
                progress: Callable[[str], None] | None = None) -> RecipeResult:
    """Build one recipe. Expected failures come back as a failed result, never as a traceback."""
    result = RecipeResult(recipe.display_name, str(recipe.path))
    start = time.perf_counter()
    try:
        _make(recipe, store, out_root, progress, result)
    except TrtbuildError as exc:
        result.status, result.error, result.exit_code = "failed", str(exc), exc.exit_code
    finally:
        result.seconds = time.perf_counter() - start
    return result


def _make(recipe: Recipe, store: Any, out_root: str | None, progress: Any, result: RecipeResult) -> None:
    from .assembly.artifacts import describe_module, write_artifacts
    from .cache.key import key_of, program_weights, recipe_key_doc
    from .engine.backend import get_backend
    from .pipeline import Target, Timings, compile_program

    timings = Timings(progress)
    with timings.stage("export"):
        result.model, program = export_recipe(recipe)
    result.program = program
    inputs, settings = recipe.compile_inputs(), recipe.settings
    target = Target(get_backend(recipe.target.backend), tuple(recipe.target.compute_capabilities))
    weights = program_weights(program)
    doc = recipe_key_doc(program, inputs, settings, target.backend, target.describe(), weights)
    result.key = key = key_of(doc)
    out_dir = output_dir(recipe, out_root)
    result.out_dir = str(out_dir)
    cached = _cached_build(store, key)
    if cached is not None:
        manifest, files = cached
        result.status = "cached"
        result.segments = [dict(s, cache="hit" if s.get("kind") == "tensorrt" else None, build_seconds=0.0)
                           for s in manifest["report"]]
    else:
        compiled = compile_program(program, inputs, settings, target, store=store,
                                   weight_digests=weights[0], timings=timings)
        result.segments = [s.report() for s in compiled.segments]
        meta = {"name": recipe.display_name, "key": key, "key_doc": doc, "trtbuild": __version__, "report": _stable_report(result.segments)}
        manifest, files = describe_module(compiled.module, compiled.segments, meta)
        _store_build(store, key, manifest, files)
        result.status = "built"
    with timings.stage("write"):
        write_artifacts(out_dir, manifest, files)
    result.timings = timings.seconds


def _stable_report(segments: list[dict]) -> list[dict]:
    return [{k: v for k, v in s.items() if k not in ("cache", "build_seconds")} for s in segments]


def _store_build(store: Any, key: str, manifest: dict, files: dict[str, bytes]) -> None:
    if store is None:
        return
    blobs = {path: store.put_blob(data) for path, data in files.items()}
    store.put_meta("recipe", key, {"key": key, "manifest": manifest, "files": blobs})


def _cached_build(store: Any, key: str) -> tuple[dict, dict[str, bytes]] | None:
    if store is None:
        return None
    entry = store.get_meta("recipe", key)
    if entry is None:
        return None
    files = {}
    for path, digest in entry.get("files", {}).items():
        data = store.get_blob(digest)
        if data is None:
            return None
        files[path] = data
    return entry["manifest"], files


def verify_recipe(recipe: Recipe, store: Any, made: RecipeResult | None = None) -> dict[str, Any]:
    """Eager vs reference execution of the compiled module at the recipe's check points."""
    from .engine.backend import get_backend
    from .export.trace import call_by_name
    from .pipeline import Target, compile_program
    from .verify.check import tolerances, verify_module

    inputs, settings = recipe.compile_inputs(), recipe.settings
    if made is not None and made.program is not None:
        model, program = made.model, made.program
    else:
        model, program = export_recipe(recipe)
    target = Target(get_backend(recipe.target.backend), tuple(recipe.target.compute_capabilities))
    compiled = compile_program(program, inputs, settings, target, store=store)
    rtol, atol = tolerances(settings.lowest_float(), recipe.verify.rtol, recipe.verify.atol)
    by_name = recipe.model.factory is not None and call_by_name(model, inputs)
    checks = verify_module(model, compiled.module, inputs, rtol=rtol, atol=atol, samples=recipe.verify.samples,
                           seed=recipe.verify.seed, by_name=by_name)
    return {"name": recipe.display_name, "ok": all(c.ok for c in checks), "precision": settings.lowest_float(),
            "rtol": rtol, "atol": atol, "checks": [c.report() for c in checks]}
