"""`make`: one recipe from TOML to an output dir, reusing cached engines where the key matches.

export -> key -> (recipe cache hit: write artifacts) | (compile, store, write artifacts)
"""

from __future__ import annotations

import contextlib
import gc
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

from . import __version__
from .errors import ModelError, TrtbuildError
from .recipe import Recipe
from .resources import limited_memory, memory_error, out_of_memory
from .timing import Timings

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
    reason: str | None = None  # why it was (re)built, or what made it up to date
    precision: str | None = None
    fast_path: bool = False
    verify: dict[str, Any] | None = None
    # in-process only (not reported): reused by `make --verify`; the failure's traceback for --debug
    model: Any = None
    program: Any = None
    traceback: str | None = None

    def report(self) -> dict[str, Any]:
        return {"name": self.name, "path": self.path, "status": self.status, "key": self.key,
                "precision": self.precision,
                "seconds": round(self.seconds, 3), "out_dir": self.out_dir, "segments": self.segments,
                "timings": {k: round(v, 3) for k, v in self.timings.items()}, "error": self.error,
                "reason": self.reason, "fast_path": self.fast_path,
                **({"verify": self.verify} if self.verify is not None else {})}


def output_dir(recipe: Recipe, out_root: str | None) -> Path:
    if out_root:
        return Path(out_root) / recipe.display_name
    # "{name}" lets a folder's trtbuild.toml give every recipe below it its own dir
    return Path((recipe.output.dir or "build/{name}").replace("{name}", recipe.display_name))


def export_recipe(recipe: Recipe) -> tuple[Any, Any]:
    """(eager model, ExportedProgram). A saved program is its own eager reference."""
    from .export import build_model, load_program, trace

    if recipe.model.program:
        program = load_program(recipe)
        return program.module(), program
    model = build_model(recipe)
    try:
        return model, trace(model, recipe.compile_inputs())
    except ModelError as exc:  # trace knows the model, not the recipe: name the file and field
        raise ModelError(f"{recipe.path}: model.factory {recipe.model.factory!r}: {exc}") from exc


def recipe_target(recipe: Recipe) -> Any:
    from .engine.backend import get_backend
    from .pipeline import Target

    return Target(get_backend(recipe.target.backend), tuple(recipe.target.compute_capabilities))


def key_document(recipe: Recipe, program: Any, weights: dict[str, str] | None = None) -> dict[str, Any]:
    """The recipe key's document; make, check, explain and cache pull all use this one."""
    from .cache.key import recipe_key_doc

    target = recipe_target(recipe)
    return recipe_key_doc(program, recipe.compile_inputs(), recipe.settings, target.backend, target.describe(),
                          weights)


def make_recipe(recipe: Recipe, store: Any, out_root: str | None = None,
                progress: Callable[[str], None] | None = None, fast_path: bool = True) -> RecipeResult:
    """Build one recipe. Expected failures come back as a failed result, never as a traceback."""
    from .stamp import stamp_document, up_to_date

    result = RecipeResult(recipe.display_name, str(recipe.path), precision=recipe.settings.lowest_float())
    start = time.perf_counter()
    try:
        out_dir = output_dir(recipe, out_root)
        result.out_dir = str(out_dir)
        record = up_to_date(recipe, store, out_dir) if fast_path and store is not None else None
        if record is not None:
            result.status, result.key, result.fast_path = "cached", record["recipe_key"], True
            result.segments = [dict(s, cache="hit" if s["kind"] == "tensorrt" else None, build_seconds=0.0)
                               for s in record["segments"]]
            result.reason = "up to date: recipe, weights, sources and versions unchanged since the last build"
            return result
        stamp = stamp_document(recipe, store, out_dir) if store is not None else None
        timings = Timings(progress)
        with limited_memory() as limit:
            try:
                _make(recipe, store, out_dir, timings, result, stamp)
            except (MemoryError, RuntimeError) as exc:
                if not out_of_memory(exc):
                    raise
                raise memory_error(timings.current, limit) from exc
    except TrtbuildError as exc:
        result.status, result.error, result.exit_code = "failed", str(exc), exc.exit_code
        result.traceback = traceback.format_exc()
    finally:
        result.seconds = time.perf_counter() - start
    return result


def _make(recipe: Recipe, store: Any, out_dir: Path, timings: Timings, result: RecipeResult, stamp: Any) -> None:
    with timings.stage("import"):  # torch and TensorRT load once per process; report it apart from export
        from .assembly.artifacts import describe_module, write_artifacts
        from .cache.key import key_of, program_weights
        from .engine.backend import get_backend
        from .explain import diff_key_docs, last_key_doc
        from .pipeline import compile_program
        from .stamp import record_stamp

        get_backend(recipe.target.backend)
        gc.freeze()  # torch's import leaves ~1M long-lived objects; collections would rescan them all
    with timings.stage("export"):
        result.model, program = export_recipe(recipe)
    result.program = program
    inputs, settings, target = recipe.compile_inputs(), recipe.settings, recipe_target(recipe)
    weights = program_weights(program)
    doc = key_document(recipe, program, weights)
    result.key = key = key_of(doc)
    previous = last_key_doc(out_dir)
    cached = _cached_build(store, key)
    if cached is None:
        with _build_lock(store, key, timings):
            cached = _cached_build(store, key)  # another make may have built it while we waited for the lock
            if cached is None:
                compiled = compile_program(program, inputs, settings, target, store=store,
                                           weight_digests=weights, timings=timings)
                result.segments = [s.report() for s in compiled.segments]
                meta = {"name": recipe.display_name, "key": key, "key_doc": doc, "trtbuild": __version__,
                        "report": _stable_report(result.segments)}
                manifest, files = describe_module(compiled.module, compiled.segments, meta)
                _store_build(store, key, manifest, files)
                result.status = "built"
                result.reason = "; ".join(diff_key_docs(previous, doc)) or "not in the cache"
    if cached is not None:
        manifest, files = cached
        result.status = "cached"
        result.reason = "engine key found in the cache"
        result.segments = [dict(s, cache="hit" if s.get("kind") == "tensorrt" else None, build_seconds=0.0)
                           for s in manifest["report"]]
    with timings.stage("write"):
        write_artifacts(out_dir, manifest, files)
    result.timings = timings.seconds
    if store is not None:
        record_stamp(recipe, store, out_dir, stamp, result, {path: len(data) for path, data in files.items()})


def check_recipe(recipe: Recipe, store: Any, out_root: str | None, fast_path: bool = True) -> dict[str, Any]:
    """Would `make` build this recipe? Exports and hashes when the stamp cannot tell; builds nothing."""
    from .cache.key import key_of
    from .explain import diff_key_docs, last_key_doc
    from .stamp import up_to_date

    out_dir = output_dir(recipe, out_root)
    report = {"name": recipe.display_name, "path": str(recipe.path), "out_dir": str(out_dir)}
    if fast_path and up_to_date(recipe, store, out_dir) is not None:
        return dict(report, status="up-to-date", reason="stamp unchanged")
    doc = key_document(recipe, export_recipe(recipe)[1])
    key = key_of(doc)
    previous = last_key_doc(out_dir)
    if previous is not None and key_of(previous) == key:
        return dict(report, status="up-to-date", key=key, reason="key unchanged")
    if store.get_meta("recipe", key) is not None:
        return dict(report, status="would build", key=key, reason="engine cached; output dir out of date")
    return dict(report, status="would build", key=key, reason="; ".join(diff_key_docs(previous, doc)))


def _stable_report(segments: list[dict]) -> list[dict]:
    return [{k: v for k, v in s.items() if k not in ("cache", "build_seconds")} for s in segments]


def _store_build(store: Any, key: str, manifest: dict, files: dict[str, bytes]) -> None:
    if store is None:
        return
    # artifact files are named by their SHA-256: no need to hash them again
    blobs = {path: store.put_blob(data, Path(path).name.split(".")[0]) for path, data in files.items()}
    store.put_meta("recipe", key, {"key": key, "manifest": manifest, "files": blobs})


@contextlib.contextmanager
def _build_lock(store: Any, key: str, timings: Any) -> Iterator[None]:
    """Held while building `key`, so that concurrent makes sharing the cache build it once. The time
    taken to get it (waiting for another make) is the "lock" stage."""
    if store is None:
        yield
        return
    lock = store.build_lock(key, on_wait=lambda holder: timings.progress(f"waiting for {holder}, which is building it"))
    with timings.stage("lock"):
        lock.acquire()
    try:
        yield
    finally:
        lock.release()


def _cached_build(store: Any, key: str) -> tuple[dict, dict[str, bytes]] | None:
    if store is None:
        return None
    entry = store.get_meta("recipe", key)
    if entry is None:
        return None
    # Read every blob even after a miss: each corrupt one is reported and discarded now, not one per run.
    files = {path: store.get_blob(digest) for path, digest in entry["files"].items()}
    if any(data is None for data in files.values()):
        return None
    return entry["manifest"], files


def verify_recipe(recipe: Recipe, store: Any, made: RecipeResult | None = None) -> dict[str, Any]:
    """Eager vs reference execution of the compiled module at the recipe's check points."""
    from .export.trace import call_by_name
    from .pipeline import compile_program
    from .verify.check import tolerances, verify_module

    inputs, settings = recipe.compile_inputs(), recipe.settings
    if made is not None and made.program is not None:
        model, program = made.model, made.program
    else:
        model, program = export_recipe(recipe)
    compiled = compile_program(program, inputs, settings, recipe_target(recipe), store=store)
    rtol, atol = tolerances(settings.lowest_float(), recipe.verify.rtol, recipe.verify.atol)
    by_name = recipe.model.factory is not None and call_by_name(model, inputs)
    checks = verify_module(model, compiled.module, inputs, rtol=rtol, atol=atol, samples=recipe.verify.samples,
                           seed=recipe.verify.seed, by_name=by_name)
    return {"name": recipe.display_name, "ok": all(c.ok for c in checks), "precision": settings.lowest_float(),
            "rtol": rtol, "atol": atol, "checks": [c.report() for c in checks]}


def plan_recipe(recipe: Recipe) -> dict[str, Any]:
    """What `make` would build, without building: export, lower, partition and convert (so that a node
    whose converter fails is shown in torch, with the converter's error).

    Each segment lists its ops in execution order; a torch segment also says, for every op, why it is
    not in TensorRT and where the model makes it.
    """
    import operator

    from .pipeline import plan_program
    from .settings import op_name

    _, program = export_recipe(recipe)
    part = plan_program(program, recipe.settings, recipe_target(recipe).backend)
    segments = []
    for segment in part.segments:
        graph = part.submodule(segment).graph
        ops = [op_name(n.target) for n in graph.nodes if n.op == "call_function" and n.target is not operator.getitem]
        segments.append({"name": segment.name, "kind": segment.kind, "ops": ops,
                         "fallbacks": [f.describe() for f in segment.fallbacks]})
    return {"name": recipe.display_name, "segments": segments}


def format_plan(plan: dict[str, Any]) -> str:
    """A plan as text: one line per segment (op counts), one line per op left to torch."""
    from collections import Counter

    segments = plan["segments"]
    trt = sum(s["kind"] == "tensorrt" for s in segments)
    lines = [f"{plan['name']}: {trt} TensorRT segment(s), {len(segments) - trt} torch segment(s)"]
    for s in segments:
        counts = ", ".join(f"{op} x{n}" for op, n in Counter(s["ops"]).most_common())
        lines.append(f"  {s['name']} ({s['kind']}, {len(s['ops'])} ops): {counts}")
        for f in s["fallbacks"]:
            lines.append(f"    {f['node']} ({f['op']}): {f['reason']}" + (f" at {f['source']}" if f["source"] else ""))
    return "\n".join(lines)
