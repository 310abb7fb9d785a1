"""`make`: one recipe from TOML to an output dir, reusing cached engines where the key matches.

export -> key -> (recipe cache hit: write artifacts) | (compile, store, write artifacts)
"""

from __future__ import annotations

import contextlib
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

from . import __version__
from .errors import BuildError, ModelError, RecipeError, TrtbuildError
from .recipe import Recipe
from .resources import imports_without_gc, limited_memory, memory_error, out_of_memory, return_large_blocks
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
    hint: str | None = None  # what to do about the failure
    # in-process only (not reported): reused by `make --verify`; the failure's traceback for --debug;
    # timed stages and TensorRT phases for `make --profile` (trtbuild/timing.py)
    model: Any = None
    program: Any = None
    quantized: Any = None  # export.quantize.Quantized, for quantized recipes built in this process
    traceback: str | None = None
    events: list[dict[str, Any]] = field(default_factory=list)

    def report(self) -> dict[str, Any]:
        return {"name": self.name, "path": self.path, "status": self.status, "key": self.key,
                "precision": self.precision,
                "seconds": round(self.seconds, 3), "out_dir": self.out_dir, "segments": self.segments,
                "timings": {k: round(v, 3) for k, v in self.timings.items()}, "error": self.error,
                "reason": self.reason, "fast_path": self.fast_path, "hint": self.hint,
                **({"verify": self.verify} if self.verify is not None else {})}


def output_dir(recipe: Recipe, out_root: str | None) -> Path:
    if out_root:
        return Path(out_root) / recipe.display_name
    # "{name}" lets a folder's trtbuild.toml give every recipe below it its own dir
    return Path((recipe.output.dir or "build/{name}").replace("{name}", recipe.display_name))


def export_recipe(recipe: Recipe) -> tuple[Any, Any]:
    """(eager model, ExportedProgram). A saved program is its own eager reference."""
    from .export import build_model, load_export_machinery, load_program, trace
    from .export.trace import arity_problem

    load_export_machinery()  # before the model's module, which may import torch._dynamo itself
    if recipe.model.program:
        program = load_program(recipe)
        given, takes = len(recipe.inputs), len(program.graph_signature.user_inputs)
        if given != takes:
            raise RecipeError(str(recipe.path), "inputs", f"the recipe gives {given} input(s); the saved program "
                                                          f"{recipe.model.program} takes {takes}")
        return program.module(), program
    model = build_model(recipe)
    inputs = recipe.compile_inputs()
    problem = arity_problem(model, inputs)
    if problem:
        raise RecipeError(str(recipe.path), "inputs", problem)
    try:
        return model, trace(model, inputs)
    except ModelError as exc:  # trace knows the model, not the recipe: name the file and field
        dims = getattr(exc, "dims", [])
        error = ModelError(f"{recipe.path}: {_dims_field(recipe, dims)}: {exc}")
        if dims:
            error.hint = "narrow that range to what the model accepts (see 'suggested'), or make the dim static"
        raise error from exc


def _dims_field(recipe: Recipe, dims: list[tuple[int, int]]) -> str:
    """The recipe field that declares the first dynamic dim the model constrains (a named dim, or the
    input's ranges), or the factory when the failure is about no dim."""
    if not dims:
        return f"model.factory {recipe.model.factory!r}"
    k, d = dims[0]
    named = (recipe.inputs[k].shape or [None] * (d + 1))[d]
    return f"dims.{named}" if isinstance(named, str) else f"inputs[{k}]"


def recipe_target(recipe: Recipe) -> Any:
    from .engine.backend import get_backend
    from .pipeline import Target

    return Target(get_backend(recipe.target.backend), tuple(recipe.target.compute_capabilities))


def key_document(recipe: Recipe, program: Any, weights: dict[str, str] | None = None) -> dict[str, Any]:
    """The recipe key's document; make, check, explain and cache pull all use this one.

    A quantized recipe's key covers the float program plus `quantize`: its settings and the key of
    its calibration (graph, weights, calibration source and data), which decide the scales."""
    doc = _float_key_document(recipe, program, weights)
    if recipe.quantize is not None:
        from .export.calibration import calibration_for

        _add_quantize(doc, recipe, calibration_for(recipe, doc))
    return doc


def _float_key_document(recipe: Recipe, program: Any, weights: dict[str, str] | None) -> dict[str, Any]:
    from .cache.key import recipe_key_doc

    target = recipe_target(recipe)
    return recipe_key_doc(program, recipe.compile_inputs(), recipe.settings, target.backend, target.describe(),
                          weights)


def _add_quantize(doc: dict[str, Any], recipe: Recipe, calibration: Any) -> None:
    doc["quantize"] = dict(recipe.quantize.model_dump(mode="json"), calibration_key=calibration.key)


def precision(recipe: Recipe) -> str:
    """What the engine computes in: the quantized format, else the lowest float precision."""
    return recipe.quantize.format if recipe.quantize is not None else recipe.settings.lowest_float()


def make_recipe(recipe: Recipe, store: Any, out_root: str | None = None,
                progress: Callable[[str], None] | None = None, fast_path: bool = True) -> RecipeResult:
    """Build one recipe. Expected failures come back as a failed result, never as a traceback."""
    from . import stamp as stamps

    result = RecipeResult(recipe.display_name, str(recipe.path), precision=precision(recipe))
    start = time.perf_counter()
    try:
        out_dir = output_dir(recipe, out_root)
        result.out_dir = str(out_dir)
        stamp = stamps.compute(recipe, store) if store is not None else None
        if not (fast_path and _reuse_by_stamp(stamp, store, out_dir, result)):
            timings = Timings(progress)
            result.events = timings.events
            with limited_memory() as limit:
                try:
                    _make(recipe, store, out_dir, timings, result, stamp)
                except (MemoryError, RuntimeError) as exc:
                    if not out_of_memory(exc):
                        raise
                    raise memory_error(timings.current, limit) from exc
    except TrtbuildError as exc:
        result.status, result.error, result.exit_code = "failed", _naming(recipe, exc), exc.exit_code
        result.hint, result.traceback = exc.hint, traceback.format_exc()
    finally:
        result.seconds = time.perf_counter() - start
    return result


def _reuse_by_stamp(stamp: Any, store: Any, out_dir: Path, result: RecipeResult) -> bool:
    """The fast path: the stamp's record names the recipe key; the output dir already holds it, or its
    entry (local or remote, verified) is written there. True when done; torch is never imported."""
    from .assembly.output import write_artifacts
    from .stamp import find_record, output_intact

    record = find_record(store, stamp)
    if record is None:
        return False
    if output_intact(out_dir, record):
        result.reason = "up to date: recipe, weights, sources and versions unchanged since the last build"
    else:
        cached = _cached_build(store, record["recipe_key"])
        if cached is None:
            return False  # the entry is gone (pruned) or was refused: build it on the full path
        write_artifacts(out_dir, *cached, _cache_files(store, cached[1]))
        result.reason = "up to date: engines reused from the cache by stamp, without exporting"
    result.status, result.key, result.fast_path = "cached", record["recipe_key"], True
    result.segments = [dict(s, cache="hit" if s["kind"] == "tensorrt" else None, build_seconds=0.0)
                       for s in record["segments"]]
    return True


def _naming(recipe: Recipe, exc: Exception) -> str:
    """The error's message, led by the recipe's file when the stage that failed did not know it."""
    text = str(exc)
    if not isinstance(exc, BuildError) or text.startswith(str(recipe.path)):
        return text
    return f"{recipe.path}: {text}"


def _make(recipe: Recipe, store: Any, out_dir: Path, timings: Timings, result: RecipeResult, stamp: Any) -> None:
    # torch, TensorRT and torch.export's machinery load once per process; reported apart from export
    with timings.stage("import"), imports_without_gc(freeze=True):
        from .assembly.artifacts import describe_module, write_artifacts
        from .cache.key import key_of, program_weights
        from .engine.backend import get_backend
        from .export import load_export_machinery
        from .export.calibration import calibration_for, quantized_program
        from .pipeline import compile_program
        from .stamp import previous_build, record_build

        get_backend(recipe.target.backend)
        load_export_machinery()
    with timings.stage("export"):
        result.model, program = export_recipe(recipe)
    result.program = program
    inputs, settings, target = recipe.compile_inputs(), recipe.settings, recipe_target(recipe)
    weights = program_weights(program)
    doc = _float_key_document(recipe, program, weights)
    calibration = calibration_for(recipe, doc, _warn(store)) if recipe.quantize is not None else None
    if calibration is not None:
        _add_quantize(doc, recipe, calibration)
    result.key = key = key_of(doc)
    previous = previous_build(recipe, store)
    cached = _cached_build(store, key)
    if cached is not None:
        store.build_lock(key).forget_if_abandoned()  # left by a make killed between storing and releasing
    else:
        with _exclusive_build(store, key, timings) as cached:
            if cached is None:
                if calibration is not None:
                    result.quantized = quantized_program(recipe, program, calibration, store, timings)
                    program = result.quantized.program
                    weights = program_weights(program)
                return_large_blocks()  # lowers the peak of TensorRT's build
                compiled = compile_program(program, inputs, settings, target, store=store,
                                           weight_digests=weights, timings=timings)
                result.segments = [s.report() for s in compiled.segments]
                meta = {"name": recipe.display_name, "key": key, "key_doc": doc, "trtbuild": __version__,
                        "report": _stable_report(result.segments)}
                manifest, files = describe_module(compiled.module, compiled.segments, meta)
                _store_build(store, key, manifest, files)
                result.status = "built"
                result.reason = _why_built(out_dir, previous, doc)
    if cached is not None:
        manifest, files = cached
        result.status = "cached"
        result.reason = _why_full_path(previous, stamp) + "engine key found in the cache"
        result.segments = [dict(s, cache="hit" if s.get("kind") == "tensorrt" else None, build_seconds=0.0)
                           for s in manifest["report"]]
    with timings.stage("write"):
        write_artifacts(out_dir, manifest, files, _cache_files(store, files))
    result.timings = timings.seconds
    # the recipe's own cost, for shard planning: not the process's imports, nor waiting for others
    cost = sum(v for stage, v in timings.seconds.items() if stage not in ("import", "lock", "lease"))
    record_build(recipe, store, stamp, result, doc, {path: len(data) for path, data in files.items()}, previous,
                 cost)


def _why_built(out_dir: Path, previous: dict | None, doc: dict) -> str:
    """Key changes against this output dir's last build, else against this recipe's last recorded
    build (another runner's, through the remote), else "no previous build"."""
    from .explain import diff_key_docs, last_key_doc

    return "; ".join(diff_key_docs(last_key_doc(out_dir) or (previous or {}).get("key_doc"), doc))


def _why_full_path(previous: dict | None, stamp: Any) -> str:
    """Why the fast path did not answer, when the stamp record of the last build can tell."""
    from .stamp import stamp_changes

    if stamp is None or previous is None:
        return ""
    changes = stamp_changes(previous.get("stamp"), stamp.doc)
    return f"stamp changed ({', '.join(changes[:4])}{', ...' if len(changes) > 4 else ''}); " if changes else ""


def check_recipe(recipe: Recipe, store: Any, out_root: str | None, fast_path: bool = True) -> dict[str, Any]:
    """Would `make` build (compile) this recipe? Exports and hashes only when the stamp cannot tell;
    downloads no engine. A recipe whose engines are cached is up to date even where its output dir
    is missing (a fresh runner): `make` would only write it."""
    from . import stamp as stamps
    from .cache.key import key_of
    from .explain import diff_key_docs, last_key_doc

    out_dir = output_dir(recipe, out_root)
    report = {"name": recipe.display_name, "path": str(recipe.path), "out_dir": str(out_dir)}
    record = stamps.find_record(store, stamps.compute(recipe, store)) if fast_path else None
    if record is not None:
        reason = "stamp unchanged" if stamps.output_intact(out_dir, record) else "stamp unchanged; engines cached"
        return dict(report, status="up-to-date", key=record["recipe_key"], reason=reason)
    doc = key_document(recipe, export_recipe(recipe)[1])
    key = key_of(doc)
    previous = last_key_doc(out_dir)
    if previous is not None and key_of(previous) == key:
        return dict(report, status="up-to-date", key=key, reason="key unchanged")
    if store.has_entry("recipe", key):
        return dict(report, status="up-to-date", key=key, reason="engine cached; output dir out of date")
    before = previous or (stamps.previous_build(recipe, store) or {}).get("key_doc")
    return dict(report, status="would build", key=key, reason="; ".join(diff_key_docs(before, doc)))


def _warn(store: Any) -> Callable[[str], None] | None:
    return getattr(store, "warn", None)  # the stores carry the CLI's warning channel


def _stable_report(segments: list[dict]) -> list[dict]:
    return [{k: v for k, v in s.items() if k not in ("cache", "build_seconds")} for s in segments]


def _store_build(store: Any, key: str, manifest: dict, files: dict[str, bytes]) -> None:
    if store is None:
        return
    # artifact files are named by their SHA-256: no need to hash them again
    blobs = {path: store.put_blob(data, Path(path).name.split(".")[0]) for path, data in files.items()}
    store.put_meta("recipe", key, {"key": key, "manifest": manifest, "files": blobs})


def _cache_files(store: Any, files: dict[str, bytes]) -> dict[str, Path]:
    """The cache's own files for those artifacts it keeps in files (engines), to link instead of copy."""
    blob_file = getattr(store, "blob_file", None)
    if blob_file is None:
        return {}
    found = {path: blob_file(Path(path).name.split(".")[0]) for path in files}
    return {path: file for path, file in found.items() if file is not None}


@contextlib.contextmanager
def _exclusive_build(store: Any, key: str, timings: Any) -> Iterator[tuple[dict, dict[str, bytes]] | None]:
    """Yields None when this process must build `key`, or the cached build that another make stored
    while we waited: first for this machine's build lock, then for another runner's remote lease."""
    if store is None:
        yield None
        return
    say = lambda holder: timings.progress(f"waiting for {holder}, which is building it")  # noqa: E731
    lock = store.build_lock(key, on_wait=say)
    with timings.stage("lock"):
        lock.acquire()
    try:
        cached = _cached_build(store, key)  # built by another make while we waited for the lock?
        if cached is not None:
            yield cached
            return
        lease = store.build_lease(key, on_wait=timings.progress)  # None: no remote to coordinate through
        if lease is None:
            yield None
            return
        with timings.stage("lease"):
            cached = lease.acquire(lambda: _cached_build(store, key))
        try:
            yield cached
        finally:
            lease.release()
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
    """Eager vs reference execution of the compiled module at the recipe's check points.

    A quantized recipe is checked against the fake-quantized eager model (the conversion's
    correctness, at the tolerance) and its error against the float model is reported beside it."""
    from .export.trace import call_by_name
    from .pipeline import compile_program
    from .verify.check import tolerances, verify_module

    inputs, settings = recipe.compile_inputs(), recipe.settings
    if made is not None and made.program is not None:
        model, program, quantized = made.model, made.program, made.quantized
    else:
        (model, program), quantized = export_recipe(recipe), None
    if recipe.quantize is not None and quantized is None:
        quantized = quantize_recipe(recipe, program, store)
    reference = quantized.fake_quant if quantized is not None else model
    compiled = compile_program(quantized.program if quantized is not None else program, inputs, settings,
                               recipe_target(recipe), store=store)
    rtol, atol = tolerances(precision(recipe), recipe.verify.rtol, recipe.verify.atol)
    by_name = recipe.model.factory is not None and call_by_name(model, inputs)
    checks = verify_module(reference, compiled.module, inputs, rtol=rtol, atol=atol, samples=recipe.verify.samples,
                           seed=recipe.verify.seed, by_name=by_name,
                           float_model=model if quantized is not None else None)
    return {"name": recipe.display_name, "ok": all(c.ok for c in checks), "precision": precision(recipe),
            "rtol": rtol, "atol": atol, "checks": [c.report() for c in checks]}


def quantize_recipe(recipe: Recipe, program: Any, store: Any) -> Any:
    """The recipe's quantized program and fake-quantized model, from cached scales when there are some."""
    from .export.calibration import calibration_for, quantized_program
    from .timing import Timings

    calibration = calibration_for(recipe, _float_key_document(recipe, program, None), _warn(store))
    return quantized_program(recipe, program, calibration, store, Timings())


def plan_recipe(recipe: Recipe, graph: bool = False) -> dict[str, Any]:
    """What `make` would build, without building: export, lower, partition and convert (so that a node
    whose converter fails is shown in torch, with the converter's error).

    Each segment lists its ops in execution order; a torch segment also says, for every op, why it is
    not in TensorRT and where the model makes it. `graph`: also the lowered graph's nodes (with their
    segment) and edges, for `--graph` (partitioning/draw.py).
    """
    import operator

    from .lowering import lower
    from .partitioning.draw import assign_segments, graph_of
    from .pipeline import plan_partition
    from .settings import op_name

    _, program = export_recipe(recipe)
    lowered = lower(program, recipe.settings)
    nodes = graph_of(lowered) if graph else None  # before partitioning fuses the graph
    part = plan_partition(lowered, recipe.settings, recipe_target(recipe).backend)
    segments = []
    for segment in part.segments:
        graph = part.submodule(segment).graph
        ops = [op_name(n.target) for n in graph.nodes if n.op == "call_function" and n.target is not operator.getitem]
        segments.append({"name": segment.name, "kind": segment.kind, "ops": ops,
                         "fallbacks": [f.describe() for f in segment.fallbacks]})
    plan = {"name": recipe.display_name, "segments": segments}
    if nodes is not None:
        plan["graph"] = assign_segments(nodes, part)
    return plan


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
