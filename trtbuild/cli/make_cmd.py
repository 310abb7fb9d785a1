"""`trtbuild make RECIPE...`"""

from __future__ import annotations

import contextlib
import os
import sys
import traceback
from pathlib import Path

import click
from rich.markup import escape

from ..errors import TrtbuildError
from ..timing import event, now
from .options import CacheOptions, LazyStore, cache_options
from .output import emit_json, err, error, fallback_lines, make_table, out, warn


def exit_code_of(results: list) -> int:
    codes = [r.exit_code for r in results if r.status == "failed"]
    if not codes:
        return 0
    return 2 if 2 in codes else 1


def progress_printer(name: str, quiet: bool):
    if quiet:  # --json: stdout is the report; only waits for another build still go to stderr
        return lambda stage: err.print(f"{name}: {stage}", markup=False) if stage.startswith("waiting") else None
    if sys.stderr.isatty():
        status = err.status(escape(f"{name}: starting"))

        def show(stage: str) -> None:
            status.update(escape(f"{name}: {stage}"))
            status.start()

        show.status = status
        return show
    return lambda stage: err.print(f"{name}: {stage}", markup=False)


def parse_shard(value: str | None) -> tuple[int, int] | None:
    if value is None:
        return None
    index, _, total = value.partition("/")
    if not (index.isdigit() and total.isdigit() and 1 <= int(index) <= int(total)):
        raise click.BadParameter(f"expected I/N with 1 <= I <= N, got {value!r}", param_hint="--shard")
    return int(index), int(total)


def select_shard(paths: list, shard: tuple[int, int] | None, store) -> tuple[list, dict | None]:
    """(this shard's recipes, the plan as --json reports it); every recipe lands in exactly one shard."""
    from ..shards import describe, plan_shards, recorded_costs

    if shard is None:
        return paths, None
    index, total = shard
    costs = recorded_costs(paths, store)
    shards = plan_shards(paths, total, costs)
    plan = describe(shards, index, costs)
    err.print(f"shard {index}/{total}: {len(shards[index - 1].recipes)} of {len(paths)} recipes, expected "
              f"{shards[index - 1].expected_seconds:.0f} s (build costs recorded for {plan['recorded_costs']})",
              markup=False)
    return shards[index - 1].recipes, plan


@click.command("make")
@click.argument("recipes", nargs=-1)
@cache_options(write=True)
@click.option("--out-dir", help="Write each recipe's output to OUT_DIR/<name> instead of its [output] dir.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document on stdout.")
@click.option("--verify", "verify", is_flag=True, help="After building, check numerics like `trtbuild verify`.")
@click.option("--check", is_flag=True, help="Build nothing and change nothing on disk; exit 3 if any recipe would "
              "build, 0 if all are up to date.")
@click.option("--dry-run", is_flag=True, help="Build nothing; print each recipe's partition: segments, their ops, "
              "and why each op left to torch is not in TensorRT.")
@click.option("--graph", metavar="FILE", help="With --dry-run: draw the partition into FILE (.html or .svg): "
              "nodes coloured by segment, torch fallbacks marked with their reason.")
@click.option("--profile", metavar="FILE", help="Write the build's timeline to FILE as Chrome Trace Event JSON "
              "(open it in Perfetto or chrome://tracing): a track per recipe, a slice per stage and "
              "TensorRT build phase.")
@click.option("--no-fast-path", is_flag=True, help="Always export and hash, even when the stamp says up to date.")
@click.option("--shard", metavar="I/N", help="Only the I-th of N deterministic shards of the recipes (CI).")
@click.option("--jobs", "-j", type=click.IntRange(1), default=1, help="Build up to N recipes at once.")
@click.option("--memory-budget", metavar="GB", type=float, help="Total memory for parallel builds "
              "(default: 75% of RAM); each job is assumed to need $TRTBUILD_JOB_GB (default 4) GB.")
def command(recipes: tuple[str, ...], cache: CacheOptions, out_dir: str | None, as_json: bool,
            verify: bool, check: bool, no_fast_path: bool, shard: str | None, jobs: int,
            memory_budget: float | None, dry_run: bool = False, graph: str | None = None,
            profile: str | None = None) -> int:
    """Build RECIPES (files, globs or folders; default: recipes/)."""
    from ..recipe import find_recipes

    if graph and not dry_run:
        raise click.UsageError("--graph draws the partition of --dry-run; pass both")
    if graph and Path(graph).suffix.lower() not in (".svg", ".html", ".htm"):
        raise click.BadParameter(f"{graph}: draw into a .html or .svg file", param_hint="--graph")
    for option, file in (("--graph", graph), ("--profile", profile)):
        if file and not Path(file).resolve().parent.is_dir():
            raise click.BadParameter(f"{file}: its folder does not exist", param_hint=option)
    paths, spec = find_recipes(list(recipes) or ["recipes"]), parse_shard(shard)
    store = LazyStore(cache, read_only=check or dry_run)  # opened only when a recipe (or --shard) needs it
    try:
        paths, plan = select_shard(paths, spec, store)
        if dry_run:
            return _dry_run(paths, as_json, graph, plan)
        if check:
            return _check(paths, store, out_dir, not no_fast_path, as_json, plan)
        jobs = _affordable_jobs(jobs, memory_budget)
        options = dict(cache=cache, out_dir=out_dir, fast_path=not no_fast_path, quiet=as_json, verify=verify,
                       debug=bool((click.get_current_context().obj or {}).get("debug")))
        results = _run_parallel(paths, jobs, options) if jobs > 1 and len(paths) > 1 else \
            [_make_one(p, store, options) for p in paths]
    finally:
        store.close()
    if profile:
        from ..profile import write_profile

        write_profile(Path(profile), results)
    reports = [r.report() for r in results]
    if as_json:
        emit_json(_with_plan({"recipes": reports}, plan))
    else:
        out.print(make_table(reports))
        for line in fallback_lines(reports):
            out.print(line, markup=False, soft_wrap=True, highlight=False)
        if verify:
            from .verify_cmd import verify_table

            out.print(verify_table([r["verify"] for r in reports if r.get("verify")]))
    code = exit_code_of(results)
    if code == 0 and verify and not all(r.get("verify") and r["verify"]["ok"] for r in reports):
        code = 1
    return code


def _make_one(path, store, options: dict):
    from ..make import RecipeResult, make_recipe
    from ..recipe import load_recipe

    start = now()
    try:
        recipe = load_recipe(path, warn=warn)
    except TrtbuildError as exc:
        _show_error(str(exc), traceback.format_exc(), options, exc.hint)
        result = RecipeResult(path.stem, str(path), error=str(exc), exit_code=exc.exit_code, hint=exc.hint)
        result.events = [event(result.name, "recipe", start, now() - start, status="failed")]
        return result
    loaded = event("load", "stage", start, now() - start)
    show = progress_printer(recipe.display_name, options["quiet"])
    try:
        result = make_recipe(recipe, store, options["out_dir"], show, fast_path=options["fast_path"])
    finally:
        if show is not None and hasattr(show, "status"):
            show.status.stop()
    if result.error:
        _show_error(result.error, result.traceback, options, result.hint)
    elif options["verify"]:
        with _timed(result, "verify"):
            result.verify = _verify(recipe, store, result)
    whole = event(result.name, "recipe", start, now() - start, status=result.status,
                  reason=result.reason, fast_path=result.fast_path, worker=os.getpid())
    result.events = [whole, loaded, *result.events]
    result.model = result.program = None  # not picklable across processes, and no longer needed
    return result


@contextlib.contextmanager
def _timed(result, name: str):
    start = now()
    try:
        yield
    finally:
        result.events.append(event(name, "stage", start, now() - start))


def _show_error(message: str, trace: str | None, options: dict, hint: str | None = None) -> None:
    """One line per failed recipe and what to do about it; its traceback too with --debug."""
    if options.get("debug") and trace:
        sys.stderr.write(trace)
    error(message, hint)


def _worker(path, options: dict):
    """One recipe in a worker process, with its own store (diskcache is safe across processes)."""
    store = LazyStore(options["cache"])
    try:
        return _make_one(path, store, dict(options, quiet=True))
    finally:
        store.close()


def _run_parallel(paths, jobs: int, options: dict) -> list:
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    # spawn, not fork: a forked child of a process that has threads (torch, TensorRT) can deadlock
    with ProcessPoolExecutor(max_workers=jobs, mp_context=multiprocessing.get_context("spawn")) as pool:
        futures = [pool.submit(_worker, p, options) for p in paths]
        results = []
        for path, future in zip(paths, futures):
            result = future.result()
            if not options["quiet"]:
                err.print(f"{result.name}: {result.status}", markup=False)
            results.append(result)
    return results


def _affordable_jobs(jobs: int, budget_gb: float | None) -> int:
    if jobs == 1:
        return 1
    per_job = float(os.environ.get("TRTBUILD_JOB_GB", "4"))
    total_gb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    budget = budget_gb if budget_gb is not None else 0.75 * total_gb
    affordable = max(1, int(budget // per_job))
    if affordable < jobs:
        warn(f"--jobs {jobs} needs about {jobs * per_job:.0f} GB; the memory budget of {budget:.0f} GB allows "
             f"{affordable}")
    return min(jobs, affordable)


def _with_plan(doc: dict, plan: dict | None) -> dict:
    return {**doc, "shard": plan} if plan is not None else doc


def _check(paths, store, out_dir, fast_path: bool, as_json: bool, plan: dict | None = None) -> int:
    from ..make import check_recipe
    from ..recipe import load_recipe

    reports, code = [], 0
    for path in paths:
        try:
            report = check_recipe(load_recipe(path, warn=warn), store, out_dir, fast_path)
        except TrtbuildError as exc:
            error(str(exc), exc.hint)
            report = {"name": path.stem, "path": str(path), "status": "failed", "error": str(exc), "hint": exc.hint}
            code = max(code, exc.exit_code)
        if report["status"] == "would build" and code == 0:
            code = 3
        reports.append(report)
    if as_json:
        emit_json(_with_plan({"recipes": reports}, plan))
    else:
        for r in reports:
            out.print(f"{r['name']}: {r['status']}" + (f" ({r['reason']})" if r.get("reason") else ""), markup=False)
    return code


def _dry_run(paths, as_json: bool, graph: str | None = None, plan: dict | None = None) -> int:
    from ..make import format_plan, plan_recipe
    from ..recipe import load_recipe

    plans, code = [], 0
    for path in paths:
        try:
            plans.append(plan_recipe(load_recipe(path, warn=warn), graph=bool(graph)))
        except TrtbuildError as exc:
            error(str(exc), exc.hint)
            plans.append({"name": path.stem, "error": str(exc), "segments": []})
            code = max(code, exc.exit_code)
    if graph:
        _draw(Path(graph), [p for p in plans if "graph" in p])
    if as_json:
        emit_json(_with_plan({"recipes": plans}, plan))
    else:
        for plan in plans:
            if "error" not in plan:
                out.print(format_plan(plan), markup=False, soft_wrap=True)
    return code


def _draw(path: Path, plans: list[dict]) -> None:
    """One drawing per recipe: FILE itself for one recipe, FILE's stem plus the recipe's name for more."""
    from ..partitioning.draw import render_html, render_svg

    render = render_svg if path.suffix.lower() == ".svg" else render_html
    for plan in plans:
        target = path if len(plans) == 1 else path.with_name(f"{path.stem}-{plan['name']}{path.suffix}")
        target.write_text(render(plan), encoding="utf-8")
        err.print(f"{plan['name']}: partition drawn in {target}", markup=False)


def _verify(recipe, store, result) -> dict:
    from ..make import verify_recipe

    try:
        return verify_recipe(recipe, store, made=result)
    except TrtbuildError as exc:
        error(f"verify: {exc}")
        return {"name": recipe.display_name, "ok": False, "error": str(exc), "checks": []}
