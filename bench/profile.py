"""Where one cold `make` spends its time, finer than the stage timings.

    python -m bench.profile [RECIPE] [--repeat 3] [--json PATH]
    python -m bench.profile [RECIPE] --once [--cprofile OUT.prof | --pyinstrument OUT.txt]

Each repeat is a fresh process with a fresh cache and out dir. It first imports, one at a time and
timed, what a cold make imports (CLI, torch, TensorRT, trtbuild's compiler modules, torch._dynamo,
the recipe's factory module), then wraps a list of functions ("probes") with timers and runs
`trtbuild make RECIPE --json` through the real CLI entry point. Probe times are inclusive (a probe
inside another counts in both); medians over the repeats are reported. A probe whose function no
longer exists is reported as missing, not an error: the library changes under the benchmark.
"""

from __future__ import annotations

import argparse
import functools
import importlib
import io
import json
import statistics
import sys
import tempfile
import time
from contextlib import redirect_stdout
from pathlib import Path
from typing import Any, Callable

T0 = time.perf_counter()
ROOT = Path(__file__).resolve().parent.parent

# (label, statement) timed one after the other, in the order a cold make would need them.
IMPORTS = (
    ("trtbuild CLI (click, rich, recipe)", "import trtbuild.cli.main, trtbuild.cli.make_cmd, trtbuild.recipe"),
    ("torch", "import torch"),
    ("TensorRT", "import importlib, importlib.util as u\n"
                 "for m in ('tensorrt_rtx', 'tensorrt'):\n    if u.find_spec(m): importlib.import_module(m)"),
    ("trtbuild compiler modules", "import trtbuild.pipeline, trtbuild.assembly.artifacts, trtbuild.cache.key, "
                                  "trtbuild.stamp, trtbuild.explain, trtbuild.engine.backend, trtbuild.export, "
                                  "trtbuild.make"),
    ("torch._dynamo, torch.export (without triton)",
     "from trtbuild.export import load_export_machinery\nload_export_machinery()"),
)

# "module:attr[.attr]" -> wrapped where the caller looks it up (a `from x import f` binding is its own probe).
PROBES = (
    "trtbuild.cli.options:CacheOptions.open",
    "trtbuild.recipe:load_recipe",
    "trtbuild.make:make_recipe",
    "trtbuild.stamp:_versions",
    "trtbuild.stamp:package_version",
    "trtbuild.stamp:compiler_digest",
    "trtbuild.stamp:file_digest",
    "trtbuild.make:export_recipe",
    "trtbuild.export:build_model",
    "trtbuild.export.model:import_factory",
    "trtbuild.export:trace",
    "trtbuild.cache.key:program_weights",
    "trtbuild.cache.key:recipe_key_doc",
    "trtbuild.cache.key:describe_graph",
    "trtbuild.cache.key:key_of",
    "trtbuild.explain:last_key_doc",
    "trtbuild.explain:diff_key_docs",
    "trtbuild.make:_cached_build",
    "trtbuild.pipeline:compile_program",
    "trtbuild.pipeline:lower",
    "trtbuild.lowering:decompose",
    "trtbuild.lowering.decompose:decomposition_table",
    "torch.export:ExportedProgram.run_decompositions",
    "trtbuild.lowering:unlift",
    "trtbuild.lowering:PASSES",  # each pass, by name
    "trtbuild.pipeline:partition",
    "trtbuild.pipeline:segment_profiles",
    "trtbuild.pipeline:segment_key_doc",
    "trtbuild.pipeline:convert_segment",
    "trtbuild.pipeline:build_engine",
    "trtbuild.pipeline:digest_bytes",
    "trtbuild.pipeline:program_signature",
    "trtbuild.pipeline:apply_signature",
    "trtbuild.make:_store_build",
    "trtbuild.cache.local:LocalStore.put_blob",
    "trtbuild.cache.local:LocalStore.get_blob",
    "trtbuild.cache.local:LocalStore.put_meta",
    "trtbuild.cache.local:LocalStore.get_meta",
    "trtbuild.cache.local:digest_bytes",
    "trtbuild.assembly.artifacts:describe_module",
    "trtbuild.assembly.artifacts:dump_graph",
    "trtbuild.assembly.artifacts:write_artifacts",
    "trtbuild.assembly.output:_atomic_write",
    "trtbuild.assembly.artifacts:digest_bytes",
    "trtbuild.stamp:record_build",
    "trtbuild.cli.make_cmd:emit_json",
)


class Probes:
    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self.calls: dict[str, int] = {}
        self.missing: list[str] = []

    def wrap(self, label: str, fn: Callable) -> Callable:
        @functools.wraps(fn)
        def timed(*args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                self.seconds[label] = self.seconds.get(label, 0.0) + time.perf_counter() - start
                self.calls[label] = self.calls.get(label, 0) + 1

        return timed

    def install(self, spec: str) -> None:
        module_name, _, path = spec.partition(":")
        try:
            owner: Any = importlib.import_module(module_name)
            *parents, attr = path.split(".")
            for part in parents:
                owner = getattr(owner, part)
            fn = getattr(owner, attr)
        except (ImportError, AttributeError):
            self.missing.append(spec)
            return
        if isinstance(fn, tuple):  # a pass list: wrap each entry under its own name
            setattr(owner, attr, tuple(self.wrap(f"{spec}[{getattr(f, '__name__', i)}]", f) for i, f in enumerate(fn)))
        else:
            setattr(owner, attr, self.wrap(spec, fn))


def memory_mib() -> tuple[float, float]:
    """(resident now, peak resident so far) of this process, MiB (VmRSS and VmHWM)."""
    fields = {}
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith(("VmRSS:", "VmHWM:")):
                key, value = line.split(":", 1)
                fields[key] = int(value.split()[0]) / 1024.0
    return fields.get("VmRSS", 0.0), fields.get("VmHWM", 0.0)


def record_stage_memory(memory: dict[str, dict[str, float]]) -> None:
    """Wrap Timings.stage: at each stage's end, the resident set and the process's peak so far."""
    from contextlib import contextmanager

    from trtbuild.timing import Timings

    original = Timings.stage

    @contextmanager
    def stage(self: Any, name: str, *args: Any, **kwargs: Any) -> Any:
        with original(self, name, *args, **kwargs):
            yield
        rss, peak = memory_mib()
        memory[name] = {"rss_mib": rss, "peak_mib": peak}

    Timings.stage = stage


def factory_module(recipe: Path) -> str | None:
    import tomllib

    try:
        factory = tomllib.loads(recipe.read_text()).get("model", {}).get("factory")
    except (OSError, ValueError):
        return None
    return factory.partition(":")[0] if factory else None


def once(recipe: Path, cprofile: str | None = None, pyinstrument: str | None = None,
         gc_mode: str = "default") -> dict[str, Any]:
    import gc

    from trtbuild.resources import imports_without_gc

    imports: dict[str, float] = {}
    with imports_without_gc(freeze=True):  # as make imports
        for label, statement in IMPORTS:
            start = time.perf_counter()
            exec(statement, {})
            imports[label] = time.perf_counter() - start
    module = factory_module(recipe)
    if module:
        sys.path.insert(0, str(recipe.parent))
        start = time.perf_counter()
        try:
            with imports_without_gc():
                importlib.import_module(module)
        except ImportError:
            pass
        finally:
            sys.path.remove(str(recipe.parent))
        imports[f"factory module {module}"] = time.perf_counter() - start

    probes = Probes()
    for spec in PROBES:
        probes.install(spec)
    memory: dict[str, dict[str, float]] = {"imports": dict(zip(("rss_mib", "peak_mib"), memory_mib()))}
    record_stage_memory(memory)
    if gc_mode == "disable":  # experiment: the collector off for the build too (the imports froze it)
        gc.disable()

    from trtbuild.cli.main import main

    profiler: Any = None
    if cprofile:
        import cProfile

        profiler = cProfile.Profile()
    elif pyinstrument:
        from pyinstrument import Profiler

        profiler = Profiler(interval=0.001)
    with tempfile.TemporaryDirectory(prefix="trtbuild-profile-") as work:
        argv = ["make", str(recipe), "--json", "--cache-dir", f"{work}/cache", "--out-dir", f"{work}/out"]
        buffer = io.StringIO()
        start = time.perf_counter()
        if profiler is not None:
            profiler.enable() if cprofile else profiler.start()
        try:
            with redirect_stdout(buffer):
                main(argv)
        except SystemExit as exc:
            code = exc.code
        else:
            code = 0
        finally:
            if cprofile and profiler is not None:
                profiler.disable()
                profiler.dump_stats(cprofile)
            elif profiler is not None:
                profiler.stop()
                Path(pyinstrument).write_text(profiler.output_text(unicode=True, color=False, show_all=False))
        make_wall = time.perf_counter() - start
    report = json.loads(buffer.getvalue() or "{}").get("recipes", [{}])[0]
    segments = [s for s in report.get("segments", []) if s.get("kind") == "tensorrt"]
    return {
        "recipe": str(recipe),
        "gc": gc_mode,
        "exit_code": code,
        "status": report.get("status"),
        "imports": imports,
        "make_wall": make_wall,
        "total_wall": time.perf_counter() - T0,
        "stage_timings": report.get("timings", {}),
        "trt_build": sum(float(s.get("build_seconds") or 0.0) for s in segments),
        "engine_bytes": sum(int(s.get("engine_bytes") or 0) for s in segments),
        "probes": {k: {"seconds": v, "calls": probes.calls[k]} for k, v in probes.seconds.items()},
        "memory": memory,
        "missing_probes": probes.missing,
    }


def summarize(runs: list[dict[str, Any]]) -> dict[str, Any]:
    def med(values: list[float]) -> float:
        return statistics.median(values) if values else 0.0

    def declared(label: str) -> int:
        spec = label.split("[")[0]
        return PROBES.index(spec) if spec in PROBES else len(PROBES)

    labels = sorted(dict.fromkeys(k for r in runs for k in r["probes"]), key=declared)
    import_labels = list(dict.fromkeys(k for r in runs for k in r["imports"]))
    stages = list(dict.fromkeys(k for r in runs for k in r["stage_timings"]))
    return {
        "runs": len(runs),
        "total_wall": med([r["total_wall"] for r in runs]),
        "process_wall": med([r["process_wall"] for r in runs]),
        # fork/exec + interpreter start + `import bench` before the script's clock, and teardown after it
        "outside_script": med([r["process_wall"] - r["total_wall"] for r in runs]),
        "max_rss_mib": med([r["max_rss_mib"] for r in runs]),
        "make_wall": med([r["make_wall"] for r in runs]),
        "trt_build": med([r["trt_build"] for r in runs]),
        "engine_bytes": runs[0]["engine_bytes"] if runs else 0,
        "imports": {k: med([r["imports"][k] for r in runs if k in r["imports"]]) for k in import_labels},
        "stage_timings": {k: med([r["stage_timings"][k] for r in runs if k in r["stage_timings"]]) for k in stages},
        "memory": {k: {m: med([r["memory"][k][m] for r in runs if k in r.get("memory", {})])
                       for m in ("rss_mib", "peak_mib")}
                   for k in dict.fromkeys(k for r in runs for k in r.get("memory", {}))},
        "probes": {k: {"seconds": med([r["probes"][k]["seconds"] for r in runs if k in r["probes"]]),
                       "calls": max(r["probes"][k]["calls"] for r in runs if k in r["probes"])} for k in labels},
        "missing_probes": sorted({m for r in runs for m in r["missing_probes"]}),
    }


def format_summary(s: dict[str, Any], recipe: str, load: Any = None) -> str:
    lines = [f"Cold make of {recipe}, median of {s['runs']} fresh process(es)"
             + (f", load {load}" if load else "") + ":",
             f"process wall {s['process_wall']:.2f} s = start-up and teardown outside the script "
             f"{s['outside_script']:.2f} s + script {s['total_wall']:.2f} s; peak RSS {s['max_rss_mib']:.0f} MiB",
             f"script {s['total_wall']:.2f} s = imports {sum(s['imports'].values()):.2f} s + make {s['make_wall']:.2f} s "
             f"(TensorRT build_serialized_network {s['trt_build']:.2f} s)", "",
             "| imports (in this order) | seconds |", "|---|---:|"]
    lines += [f"| {k} | {v:.3f} |" for k, v in s["imports"].items()]
    lines += ["", "| stage (make --json) | seconds |", "|---|---:|"]
    lines += [f"| {k} | {v:.3f} |" for k, v in s["stage_timings"].items()]
    if s.get("memory"):
        lines += ["", "| at the end of (in order) | resident MiB | peak so far MiB |", "|---|---:|---:|"]
        lines += [f"| {k} | {v['rss_mib']:.0f} | {v['peak_mib']:.0f} |" for k, v in s["memory"].items()]
    lines += ["", "| probe (inclusive) | calls | seconds | share of make |", "|---|---:|---:|---:|"]
    make = s["make_wall"] or 1.0
    for k, v in s["probes"].items():
        lines.append(f"| `{k}` | {v['calls']} | {v['seconds']:.3f} | {v['seconds'] / make:.1%} |")
    if s["missing_probes"]:
        lines.append("\nprobes not found (renamed or removed): " + ", ".join(s["missing_probes"]))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.profile", description=__doc__.splitlines()[0])
    parser.add_argument("recipe", nargs="?", default=str(ROOT / "recipes" / "resnet50.toml"))
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--once", action="store_true", help="one run in this process (what each repeat runs)")
    parser.add_argument("--cprofile", metavar="OUT", help="with --once: also write a cProfile dump")
    parser.add_argument("--pyinstrument", metavar="OUT", help="with --once: also write a pyinstrument text tree")
    parser.add_argument("--json", dest="json_path", help="write the runs and the summary as JSON")
    parser.add_argument("--gc", choices=("default", "disable"), default="default",
                        help="experiment: gc.disable() after the imports, which make freezes")
    parser.add_argument("--exit", choices=("normal", "fast"), default="normal",
                        help="experiment: 'fast' flushes and calls os._exit(0) instead of interpreter teardown")
    args = parser.parse_args(argv)
    recipe = Path(args.recipe).resolve()
    if args.once:
        print(json.dumps(once(recipe, args.cprofile, args.pyinstrument, args.gc)), flush=True)
        if args.exit == "fast":
            import os

            sys.stderr.flush()
            os._exit(0)
        return 0

    from .machine import load
    from .runs import child_env, default_python, run_child

    runs, loads = [], []
    for i in range(args.repeat):
        loads.append((load() or [None])[0])
        child = run_child([default_python(), "-m", "bench.profile", str(recipe), "--once", "--gc", args.gc,
                           "--exit", args.exit],
                          env=child_env(str(ROOT)), cwd=ROOT)
        if child.returncode != 0:
            print(f"run {i + 1} failed: {child.tail()}", file=sys.stderr)
            continue
        run = json.loads(child.stdout.strip().splitlines()[-1])
        run["max_rss_mib"], run["process_wall"], run["load1"] = child.max_rss_mib, child.wall, loads[-1]
        runs.append(run)
        print(f"  [{i + 1}/{args.repeat}] total {run['total_wall']:.2f} s (process {child.wall:.2f} s), "
              f"load {loads[-1]}", file=sys.stderr)
    if not runs:
        return 1
    summary = summarize(runs)
    print(format_summary(summary, recipe.name, loads))
    if args.json_path:
        Path(args.json_path).write_text(json.dumps({"runs": runs, "summary": summary}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
