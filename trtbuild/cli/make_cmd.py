"""`trtbuild make RECIPE...`"""

from __future__ import annotations

import sys
import traceback

import click
from rich.markup import escape

from ..errors import TrtbuildError
from .output import emit_json, err, error, fallback_lines, make_table, out, warn


def exit_code_of(results: list) -> int:
    codes = [r.exit_code for r in results if r.status == "failed"]
    if not codes:
        return 0
    return 2 if 2 in codes else 1


def open_store(cache_dir: str | None, remote: str | None = None, remote_write: bool = False):
    from pathlib import Path

    from ..cache.stores import open_store as open_configured, read_cache_config

    return open_configured(cache_dir, warn=warn, remote=remote, remote_write=remote_write,
                           config=read_cache_config(Path.cwd()))


def progress_printer(name: str, quiet: bool):
    if quiet:
        return None
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


def select_shard(paths: list, shard: tuple[int, int] | None) -> list:
    """Round-robin over the sorted recipe list: every recipe lands in exactly one shard."""
    if shard is None:
        return paths
    index, total = shard
    return [p for i, p in enumerate(sorted(paths, key=str)) if i % total == index - 1]


@click.command("make")
@click.argument("recipes", nargs=-1)
@click.option("--cache-dir", help="Local engine cache (default: $TRTBUILD_CACHE_DIR, then ./cache).")
@click.option("--out-dir", help="Write each recipe's output to OUT_DIR/<name> instead of its [output] dir.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document on stdout.")
@click.option("--remote-cache", metavar="URL", help="Shared cache: http(s)://... or s3://bucket/prefix "
              "(default: $TRTBUILD_REMOTE_CACHE, then [cache] remote in trtbuild.toml).")
@click.option("--remote-write", is_flag=True, help="Also upload new entries to the remote cache (CI).")
@click.option("--verify", "verify", is_flag=True, help="After building, check numerics like `trtbuild verify`.")
@click.option("--check", is_flag=True, help="Build nothing; exit 3 if any recipe would build, 0 if all are up to date.")
@click.option("--dry-run", is_flag=True, help="Build nothing; print each recipe's partition: segments, their ops, "
              "and why each op left to torch is not in TensorRT.")
@click.option("--no-fast-path", is_flag=True, help="Always export and hash, even when the stamp says up to date.")
@click.option("--shard", metavar="I/N", help="Only the I-th of N deterministic shards of the recipes (CI).")
@click.option("--jobs", "-j", type=click.IntRange(1), default=1, help="Build up to N recipes at once.")
@click.option("--memory-budget", metavar="GB", type=float, help="Total memory for parallel builds "
              "(default: 75% of RAM); each job is assumed to need $TRTBUILD_JOB_GB (default 4) GB.")
def command(recipes: tuple[str, ...], cache_dir: str | None, out_dir: str | None, as_json: bool,
            verify: bool, check: bool, no_fast_path: bool, shard: str | None, jobs: int,
            memory_budget: float | None, remote_cache: str | None = None, remote_write: bool = False,
            dry_run: bool = False) -> int:
    """Build RECIPES (files, globs or folders; default: recipes/)."""
    from ..recipe import find_recipes

    paths = select_shard(find_recipes(list(recipes) or ["recipes"]), parse_shard(shard))
    if dry_run:
        return _dry_run(paths, as_json)
    store = open_store(cache_dir, remote_cache, remote_write)
    try:
        if check:
            return _check(paths, store, out_dir, not no_fast_path, as_json)
        jobs = _affordable_jobs(jobs, memory_budget)
        options = dict(cache_dir=cache_dir, out_dir=out_dir, fast_path=not no_fast_path, remote=remote_cache,
                       remote_write=remote_write, quiet=as_json, verify=verify,
                       debug=bool((click.get_current_context().obj or {}).get("debug")))
        results = _run_parallel(paths, jobs, options) if jobs > 1 and len(paths) > 1 else \
            [_make_one(p, store, options) for p in paths]
    finally:
        store.close()
    reports = [r.report() for r in results]
    if as_json:
        emit_json({"recipes": reports})
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

    try:
        recipe = load_recipe(path)
    except TrtbuildError as exc:
        _show_error(str(exc), traceback.format_exc(), options)
        return RecipeResult(path.stem, str(path), error=str(exc), exit_code=exc.exit_code)
    show = progress_printer(recipe.display_name, options["quiet"])
    try:
        result = make_recipe(recipe, store, options["out_dir"], show, fast_path=options["fast_path"])
    finally:
        if show is not None and hasattr(show, "status"):
            show.status.stop()
    if result.error:
        _show_error(result.error, result.traceback, options)
    elif options["verify"]:
        result.verify = _verify(recipe, store, result)
    result.model = result.program = None  # not picklable across processes, and no longer needed
    return result


def _show_error(message: str, trace: str | None, options: dict) -> None:
    """One line per failed recipe; its traceback too with --debug."""
    if options.get("debug") and trace:
        sys.stderr.write(trace)
    error(message)


def _worker(path, options: dict):
    """One recipe in a worker process, with its own store (diskcache is safe across processes)."""
    store = open_store(options["cache_dir"], options["remote"], options["remote_write"])
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
    import os

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


def _check(paths, store, out_dir, fast_path: bool, as_json: bool) -> int:
    from ..make import check_recipe
    from ..recipe import load_recipe

    reports, code = [], 0
    for path in paths:
        try:
            report = check_recipe(load_recipe(path), store, out_dir, fast_path)
        except TrtbuildError as exc:
            report = {"name": path.stem, "path": str(path), "status": "failed", "error": str(exc)}
            code = max(code, exc.exit_code)
        if report["status"] == "would build" and code == 0:
            code = 3
        reports.append(report)
    if as_json:
        emit_json({"recipes": reports})
    else:
        for r in reports:
            out.print(f"{r['name']}: {r['status']}" + (f" ({r['reason']})" if r.get("reason") else "")
                      + (f": {r['error']}" if r.get("error") else ""))
    return code


def _dry_run(paths, as_json: bool) -> int:
    from ..make import format_plan, plan_recipe
    from ..recipe import load_recipe

    plans, code = [], 0
    for path in paths:
        try:
            plans.append(plan_recipe(load_recipe(path)))
        except TrtbuildError as exc:
            error(str(exc))
            plans.append({"name": path.stem, "error": str(exc), "segments": []})
            code = max(code, exc.exit_code)
    if as_json:
        emit_json({"recipes": plans})
    else:
        for plan in plans:
            if "error" not in plan:
                out.print(format_plan(plan), markup=False, soft_wrap=True)
    return code


def _verify(recipe, store, result) -> dict:
    from ..make import verify_recipe

    try:
        return verify_recipe(recipe, store, made=result)
    except TrtbuildError as exc:
        error(f"verify: {exc}")
        return {"name": recipe.display_name, "ok": False, "error": str(exc), "checks": []}
