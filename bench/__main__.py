"""`python -m bench [RECIPES...] [--zoo] [--repeat N] [--write-docs]`: fresh-process make benchmarks.

`python -m bench --compare [RECIPES or names...] [--repeat N] [--write-docs]`: trtbuild against
Torch-TensorRT on the same recipes in the same run (default: the zoo); see bench/compare.py.
"""

from __future__ import annotations

import argparse
import glob
import os
import json
import shlex
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from . import CORE_RECIPES, ZOO_GLOB
from .machine import load, machine
from .report import COMPARE_MARKERS, import_medians, markdown, median, summarize_recipe, write_docs
from .runs import child_env, default_python, import_times, make_triple, run_child, run_hashing, snapshot_package

ROOT = Path(__file__).resolve().parent.parent
RETRIES = 2  # a triple whose checks fail (e.g. a flaky cache or a source edit) is run again


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("recipes", nargs="*",
                        help="recipe files or names (resnet50 = recipes/resnet50.toml, else recipes/zoo/resnet50.toml); "
                             "default: the five core recipes, or the zoo with --compare")
    parser.add_argument("--zoo", action="store_true", help=f"benchmark {ZOO_GLOB} instead of the core recipes")
    parser.add_argument("--compare", action="store_true",
                        help="against Torch-TensorRT in the same run (creates build/bench/anchor-venv on first use)")
    parser.add_argument("--repeat", type=int, default=3, help="repeats per measurement; medians are reported")
    parser.add_argument("--import-repeat", type=int, help="repeats of each import measurement (default max(5, repeat))")
    parser.add_argument("--hash-gib", type=float, default=1.0, help="state dict size for the hashing benchmark")
    parser.add_argument("--no-hash", action="store_true", help="skip the hashing benchmark")
    parser.add_argument("--no-imports", action="store_true", help="skip the import-time measurement")
    parser.add_argument("--no-snapshot", action="store_true",
                        help="run the working tree's trtbuild instead of a copy taken at start (a concurrent source "
                             "edit then changes every cache key mid-run)")
    parser.add_argument("--python", default=default_python(), help="interpreter for the child processes")
    parser.add_argument("--json", dest="json_path",
                        help="where to write the results JSON (default: with --write-docs, bench/results.json or "
                             "bench/compare.json, the data behind the docs' table; else the same name in build/bench/)")
    parser.add_argument("--from-json", metavar="PATH", help="run nothing: format the table from a results JSON")
    parser.add_argument("--write-docs", action="store_true", help="replace the table in docs/performance.md")
    parser.add_argument("--docs", default=str(ROOT / "docs" / "performance.md"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    # the tracked JSON is what the docs' table was made from: a partial run must not replace it
    folder = ROOT / "bench" if args.write_docs else ROOT / "build" / "bench"
    args.json_path = args.json_path or str(folder / ("compare.json" if args.compare else "results.json"))
    return args


def recipe_list(args: argparse.Namespace) -> list[str]:
    if args.recipes:
        return [_recipe_path(p) for p in args.recipes]
    if args.zoo or args.compare:
        return sorted(p for p in glob.glob(str(ROOT / ZOO_GLOB)) if Path(p).name != "trtbuild.toml")
    return [str(ROOT / p) for p in CORE_RECIPES]


def _recipe_path(arg: str) -> str:
    """A path as given, or a bare name looked up in recipes/ and then recipes/zoo/."""
    if Path(arg).suffix == ".toml" or "/" in arg:
        return str(Path(arg).resolve())
    for folder in ("recipes", "recipes/zoo"):
        candidate = ROOT / folder / f"{arg}.toml"
        if candidate.is_file():
            return str(candidate)
    raise SystemExit(f"bench: no recipe named {arg!r} in recipes/ or recipes/zoo/")


def check_snapshot(python: str, env: dict[str, str], snapshot: Path) -> None:
    child = run_child([python, "-c", "import trtbuild; print(trtbuild.__file__)"], env=env, cwd=snapshot)
    where = child.stdout.strip()
    if child.returncode != 0 or not where.startswith(str(snapshot)):
        raise SystemExit(f"bench: the children do not import the snapshot of trtbuild ({where or child.tail()})")


def run_compare(args: argparse.Namespace) -> dict[str, Any]:
    from . import anchor, compare

    started, wall_start = compare.now(), time.perf_counter()
    python = str(anchor.ensure_venv(log=log))
    versions = anchor.installed_versions(Path(python))
    info = machine()
    # the children run on the comparison venv: describe its libraries, not the bench's own interpreter's
    info.update(torch=versions["torch"], torchvision=versions["torchvision"],
                tensorrt={"tensorrt_rtx": versions["tensorrt-rtx"]})
    recipes = recipe_list(args)
    log(f"bench: compare, {len(recipes)} recipe(s) x {args.repeat} repeat(s), load {info['load_at_start']}; "
        f"both tools on {python} (torch {versions['torch']}, tensorrt-rtx {versions['tensorrt-rtx']})")
    with tempfile.TemporaryDirectory(prefix="trtbuild-bench-src-") as src:
        cwd = snapshot_package(ROOT, Path(src))
        env = child_env(os.pathsep.join(dict.fromkeys([str(cwd), str(ROOT)])))
        check_snapshot(python, env, cwd)
        models = compare.run(python, recipes, args.repeat, cwd, env, log)
    loads = compare.loads_of(models)
    driver_trt = [m["versions"]["tensorrt_rtx"] for mod in models for r in mod["rounds"] for m in r.values()
                  if isinstance(m, dict) and m.get("versions")]
    return {
        "format": "compare-1", "date": started, "command": _command(), "repeat": args.repeat,
        "python": _relative(python), "versions": versions, "driver_tensorrt": sorted(set(driver_trt)),
        "machine": info,
        "load": {"at_start": info["load_at_start"], "at_end": load(), "median": median(loads),
                 "max": max(loads, default=None)},
        "models": models, "overall": compare.overall(models),
        "duration_seconds": round(time.perf_counter() - wall_start, 1),
    }


def _command() -> str:
    return "python -m bench " + shlex.join(sys.argv[1:]) if sys.argv[1:] else "python -m bench"


def run(args: argparse.Namespace) -> dict[str, Any]:
    started, wall_start = time.strftime("%Y-%m-%d %H:%M %Z"), time.perf_counter()
    info = machine()
    recipes = recipe_list(args)
    log(f"bench: {len(recipes)} recipe(s) x {args.repeat} repeat(s) on {info['cpu']} ({info['cores']} cores), "
        f"load {info['load_at_start']}")
    with tempfile.TemporaryDirectory(prefix="trtbuild-bench-src-") as src:
        # Children run in `cwd` with `python -m`, which puts cwd first on sys.path: with a snapshot, cwd
        # is the snapshot (the working tree comes after it on PYTHONPATH, for `bench` itself).
        cwd = ROOT
        if not args.no_snapshot:
            cwd = snapshot_package(ROOT, Path(src))
        env = child_env(os.pathsep.join(dict.fromkeys([str(cwd), str(ROOT)])))
        if cwd != ROOT:
            check_snapshot(args.python, env, cwd)

        # Import floors are measured inside each round, next to the builds, so the machine's load
        # (other people's tests on a shared box) weighs on both alike.
        imports: dict[str, Any] = {}
        per_round = 0 if args.no_imports else -(-(args.import_repeat or max(5, args.repeat)) // args.repeat)
        triples: dict[str, list[dict[str, Any]]] = {r: [] for r in recipes}
        for i in range(args.repeat):
            if per_round:
                for name, entry in import_times(args.python, per_round, env, cwd).items():
                    merged = imports.setdefault(name, {"statement": entry["statement"], "walls": [], "max_rss_mib": []})
                    merged["walls"] += entry["walls"]
                    merged["max_rss_mib"] += entry["max_rss_mib"]
                log(f"  [{i + 1}/{args.repeat}] imports: " + ", ".join(
                    f"{name} {median(e['walls']):.2f} s" for name, e in imports.items() if e["walls"]))
            for recipe in recipes:
                for attempt in range(RETRIES + 1):
                    triple = make_triple(args.python, recipe, cwd=cwd, env=env)
                    if not triple["problems"] or attempt == RETRIES:
                        break
                    log(f"  retrying {Path(recipe).stem}: {'; '.join(triple['problems'])}")
                triple["attempts"] = attempt + 1
                triples[recipe].append(triple)
                log(progress_line(i, args.repeat, recipe, triple))

        hashing: dict[str, Any] = {}
        if not args.no_hash:
            log(f"bench: weight hashing, {args.hash_gib} GiB")
            hashing = run_hashing(args.python, args.hash_gib, args.repeat, env, cwd)

    torch_import = import_medians(imports).get("torch")
    rows = []
    for recipe, runs in triples.items():
        name = next((t["cold"].get("name") for t in runs if t.get("cold", {}).get("name")), None)
        rows.append({"name": name or Path(recipe).stem, "path": _relative(recipe), "repeats": runs,
                     "summary": summarize_recipe(runs, torch_import)})
    loads = [t["cold"].get("load1") for runs in triples.values() for t in runs if "cold" in t]
    return {
        "format": 1,
        "date": started,
        "command": _command(),
        "repeat": args.repeat,
        "snapshot": not args.no_snapshot,
        "machine": info,
        "load": {"median": median(loads), "max": max((x for x in loads if x is not None), default=None),
                 "at_end": load()},
        "imports": imports,
        "hashing": hashing,
        "recipes": rows,
        "duration_seconds": round(time.perf_counter() - wall_start, 1),
    }


def _relative(path: str) -> str:
    try:
        return str(Path(path).relative_to(ROOT))
    except ValueError:
        return path


def progress_line(i: int, repeat: int, recipe: str, triple: dict[str, Any]) -> str:
    parts = [f"{kind} {triple[kind]['wall']:.2f} s" for kind in ("cold", "cached", "noop") if kind in triple]
    cold = triple.get("cold") or {}
    extra = f", TRT build {cold.get('trt_build', 0):.2f} s, RSS {cold.get('max_rss_mib', 0):.0f} MiB" if cold else ""
    problems = f"  PROBLEMS: {'; '.join(triple['problems'])}" if triple["problems"] else ""
    return f"  [{i + 1}/{repeat}] {Path(recipe).stem}: " + ", ".join(parts) + extra + f", load {cold.get('load1')}" + problems


def main_compare(args: argparse.Namespace) -> int:
    from . import compare

    if args.from_json:
        results = json.loads(Path(args.from_json).read_text())
    else:
        results = run_compare(args)
        Path(args.json_path).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json_path).write_text(json.dumps(results, indent=1) + "\n")
        log(f"bench: wrote {args.json_path} ({results['duration_seconds']} s)")
    text = compare.markdown(results)
    print(text)
    if args.write_docs:
        write_docs(Path(args.docs), text, COMPARE_MARKERS)
        log(f"bench: wrote {args.docs}")
    return 0 if results["overall"]["compared"] else 1


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.compare:
        return main_compare(args)
    if args.from_json:
        results = json.loads(Path(args.from_json).read_text())
        torch_import = import_medians(results.get("imports", {})).get("torch")
        for row in results.get("recipes", []):  # recomputed, so a newer formatter reads older results
            row["summary"] = summarize_recipe(row.get("repeats", []), torch_import)
    else:
        results = run(args)
        Path(args.json_path).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json_path).write_text(json.dumps(results, indent=1) + "\n")
    text = markdown(results)
    print(text)
    if args.write_docs:
        write_docs(Path(args.docs), text)
        log(f"bench: wrote {args.docs}")
    if not args.from_json:
        log(f"bench: wrote {args.json_path} ({results['duration_seconds']} s)")
    failed = [r["name"] for r in results["recipes"] if not r["summary"]["valid_runs"]]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
