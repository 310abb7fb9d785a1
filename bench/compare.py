"""`python -m bench --compare`: trtbuild against Torch-TensorRT, on the same recipes, in the same run.

Both tools run on one interpreter (the comparison venv, bench/anchor.py), so torch and TensorRT-RTX
are the same for both. Each measurement is a fresh process. For every repeat and recipe a *round*
runs every scenario in SCENARIOS once, in a fresh work dir; the two cold builds swap order from one
round to the next, so neither always runs on a page cache the other warmed. A scenario that reuses
what an earlier one left (the no-op reuses ours' cold cache and out dir) names it in `after`.

To add a row kind (e.g. a fresh runner with a warm remote cache), add a Scenario: the table gets its
wall-time and peak-RSS columns, medians over the repeats, with no other change.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from .report import median
from .runs import make_once, run_child


@dataclass
class Round:
    """One recipe, one repeat: where the scenarios of this round work and what they run with."""

    python: str
    recipe: str
    work: Path
    cwd: Path
    env: dict[str, str]
    spec: dict[str, Any]


@dataclass(frozen=True)
class Scenario:
    name: str  # column title, e.g. "ours cold"
    tool: str  # "trtbuild" | "torch-tensorrt"
    run: Callable[[Round], dict[str, Any]]
    after: str | None = None  # runs after this scenario of the same round and may use what it left


def _measured(child: Any, error: str | None, **extra: Any) -> dict[str, Any]:
    return {"wall": round(child.wall, 4), "max_rss_mib": round(child.max_rss_mib, 1),
            "cpu_seconds": round(child.user + child.system, 3), "load1": child.load1, "error": error, **extra}


def ours_cold(r: Round) -> dict[str, Any]:
    run = make_once(r.python, r.recipe, r.work / "cache", r.work / "out", "cold", cwd=r.cwd, env=r.env)
    rep = run.report or {}
    error = run.error or (None if rep.get("status") == "built" else f"status {rep.get('status')!r}, expected 'built'")
    trt = [s for s in rep.get("segments") or [] if s.get("kind") == "tensorrt"]
    return _measured(run.child, error, timings=rep.get("timings") or {}, seconds=rep.get("seconds"),
                     engines=len(trt), engine_bytes=sum(int(s.get("engine_bytes") or 0) for s in trt),
                     segments=len(rep.get("segments") or []))


def ours_noop(r: Round) -> dict[str, Any]:
    run = make_once(r.python, r.recipe, r.work / "cache", r.work / "out", "noop", cwd=r.cwd, env=r.env)
    rep = run.report or {}
    error = run.error or (None if rep.get("fast_path") is True else f"fast_path is {rep.get('fast_path')!r}")
    return _measured(run.child, error)


def theirs_cold(r: Round) -> dict[str, Any]:
    spec = dict(r.spec, out_dir=str(r.work / "anchor-out"))
    spec_path = r.work / "anchor-spec.json"
    spec_path.write_text(json.dumps(spec))
    child = run_child([r.python, "-m", "bench.anchor_driver", str(spec_path)], env=r.env, cwd=r.cwd)
    report: dict[str, Any] = {}
    try:
        report = json.loads(child.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        pass
    error = None
    if child.returncode != 0 or not report:
        error = f"exit {child.returncode}: {_last_error(child.stderr)}"
    elif not report.get("engines"):
        error = "no TensorRT engine was built"
    return _measured(child, error, timings=report.get("timings") or {}, engines=report.get("engines"),
                     engine_bytes=report.get("engine_bytes"), versions=report.get("versions"))


def _last_error(stderr: str) -> str:
    """The exception line of a traceback (the last line naming an Error), else the last line."""
    lines = [line.strip() for line in stderr.strip().splitlines() if line.strip()]
    errors = [line for line in lines if "Error" in line.split(":")[0]]
    return (errors or lines or ["no output"])[-1][:300]


OURS_COLD = Scenario("ours cold", "trtbuild", ours_cold)
THEIRS_COLD = Scenario("Torch-TensorRT cold", "torch-tensorrt", theirs_cold)
OURS_NOOP = Scenario("ours no-op", "trtbuild", ours_noop, after="ours cold")
SCENARIOS: tuple[Scenario, ...] = (OURS_COLD, THEIRS_COLD, OURS_NOOP)
COLD_PAIR = (OURS_COLD.name, THEIRS_COLD.name)


def round_order(scenarios: tuple[Scenario, ...], repeat_index: int) -> list[Scenario]:
    """Scenarios in a valid order (each after the one it needs); the cold pair swaps on odd repeats."""
    order = list(scenarios)
    if repeat_index % 2:
        i, j = (next(k for k, s in enumerate(order) if s.name == name) for name in COLD_PAIR)
        order[i], order[j] = order[j], order[i]
    placed: list[Scenario] = []
    pending = order
    while pending:
        ready = [s for s in pending if s.after is None or s.after in {p.name for p in placed}]
        if not ready:
            raise ValueError(f"scenarios wait on each other or on a missing one: {[s.name for s in pending]}")
        placed.append(ready[0])
        pending = [s for s in pending if s is not ready[0]]
    return placed


def run_round(python: str, recipe: str, spec: dict[str, Any], cwd: Path, env: dict[str, str], repeat_index: int,
              scenarios: tuple[Scenario, ...] = SCENARIOS) -> dict[str, dict[str, Any]]:
    work = Path(tempfile.mkdtemp(prefix="trtbuild-compare-"))
    try:
        ctx = Round(python, recipe, work, cwd, env, spec)
        results: dict[str, dict[str, Any]] = {}
        for scenario in round_order(scenarios, repeat_index):
            needed = results.get(scenario.after) if scenario.after else None
            if needed is not None and needed.get("error"):
                results[scenario.name] = {"error": f"skipped: {scenario.after} failed"}
                continue
            results[scenario.name] = scenario.run(ctx)
        return results
    finally:
        shutil.rmtree(work, ignore_errors=True)


def summarize(rounds: list[dict[str, dict[str, Any]]], scenarios: tuple[Scenario, ...] = SCENARIOS) -> dict[str, Any]:
    """Per scenario: medians over the rounds where it succeeded; the cold ratios from those medians."""
    out: dict[str, Any] = {"runs": len(rounds), "scenarios": {}}
    for s in scenarios:
        ok = [r[s.name] for r in rounds if s.name in r and not r[s.name].get("error")]
        stages = list(dict.fromkeys(k for m in ok for k in (m.get("timings") or {})))
        out["scenarios"][s.name] = {
            "ok": len(ok), "wall": median(m.get("wall") for m in ok),
            "cpu_seconds": median(m.get("cpu_seconds") for m in ok),
            "max_rss_mib": median(m.get("max_rss_mib") for m in ok),
            "engine_bytes": median(m.get("engine_bytes") for m in ok),
            "stages": {k: median((m.get("timings") or {}).get(k) for m in ok) for k in stages},
            "errors": list(dict.fromkeys(r[s.name]["error"] for r in rounds if r.get(s.name, {}).get("error"))),
        }
    ours, theirs = (out["scenarios"][name] for name in COLD_PAIR)
    out["ratio"] = _ratio(ours["wall"], theirs["wall"])
    out["rss_ratio"] = _ratio(ours["max_rss_mib"], theirs["max_rss_mib"])
    out["cpu_ratio"] = _ratio(ours["cpu_seconds"], theirs["cpu_seconds"])
    return out


def _ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a is not None and b else None


def overall(models: list[dict[str, Any]]) -> dict[str, Any]:
    """Medians over the models of each per-model ratio (models where either tool failed are left out)."""
    def med(key: str) -> float | None:
        return median(m["summary"].get(key) for m in models)

    return {"models": len(models), "compared": sum(m["summary"].get("ratio") is not None for m in models),
            "ratio": med("ratio"), "rss_ratio": med("rss_ratio"), "cpu_ratio": med("cpu_ratio")}


def run(python: str, recipes: list[str], repeat: int, cwd: Path, env: dict[str, str], log: Callable[[str], None],
        scenarios: tuple[Scenario, ...] = SCENARIOS) -> list[dict[str, Any]]:
    from .anchor import driver_spec

    specs = {r: driver_spec(r, Path("unused")) for r in recipes}
    rounds: dict[str, list[dict[str, dict[str, Any]]]] = {r: [] for r in recipes}
    for i in range(repeat):
        for recipe in recipes:
            result = run_round(python, recipe, specs[recipe], cwd, env, i, scenarios)
            rounds[recipe].append(result)
            log(f"  [{i + 1}/{repeat}] {specs[recipe]['name']}: " + ", ".join(
                f"{name} {m['wall']:.2f} s / {m['max_rss_mib']:.0f} MiB" if not m.get("error") else f"{name} FAILED"
                for name, m in result.items()) + f", load {_load1()}")
    return [{"name": specs[r]["name"], "path": r, "rounds": rounds[r], "summary": summarize(rounds[r], scenarios)}
            for r in recipes]


def _load1() -> float | None:
    from .machine import load

    return (load() or [None])[0]


def _s(value: float | None, digits: int = 2) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def table(results: dict[str, Any], scenarios: tuple[Scenario, ...] = SCENARIOS) -> str:
    names = [s.name for s in scenarios]
    head = (["model"] + [f"{n} (s)" for n in names] + ["ratio (cold)", "CPU ratio (cold)"]
            + [f"peak RSS MiB, {n}" for n in COLD_PAIR] + ["RSS ratio", "runs ok"])
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join(["---"] + ["---:"] * (len(head) - 1)) + "|"]
    for m in results["models"]:
        s = m["summary"]
        cells = [m["name"]] + [_s(s["scenarios"][n]["wall"]) for n in names]
        cells += [_s(s.get("ratio")), _s(s.get("cpu_ratio"))]
        cells += [_s(s["scenarios"][n]["max_rss_mib"], 0) for n in COLD_PAIR] + [_s(s.get("rss_ratio"))]
        cells.append(" / ".join(str(s["scenarios"][n]["ok"]) for n in names) + f" of {s['runs']}")
        lines.append("| " + " | ".join(cells) + " |")
    total = results.get("overall") or {}
    if len(results["models"]) > 1:
        lines.append("| **median of the models** | " + " | ".join([""] * len(names)) + f" | **{_s(total.get('ratio'))}** | "
                     f"{_s(total.get('cpu_ratio'))} | | | **{_s(total.get('rss_ratio'))}** | |")
    return "\n".join(lines)


def stage_table(results: dict[str, Any]) -> str:
    """Where each tool's cold build goes, per model (each tool's own stages, medians)."""
    lines = ["| model | tool | " + "stages (s) |", "|---|---|---|"]
    for m in results["models"]:
        for name in COLD_PAIR:
            stages = m["summary"]["scenarios"][name]["stages"]
            lines.append(f"| {m['name']} | {name} | " + ", ".join(f"{k} {_s(v)}" for k, v in stages.items()) + " |")
    return "\n".join(lines)


def markdown(results: dict[str, Any]) -> str:
    from .machine import describe

    m = results["machine"]
    v = results.get("versions") or {}
    lines = [f"Machine: {describe(m)}.",
             f"Both tools ran on one interpreter ({results.get('python')}): torch {v.get('torch')}, "
             f"torchvision {v.get('torchvision')}, tensorrt-rtx {v.get('tensorrt-rtx')} (trtbuild and "
             f"torch-tensorrt-rtx {v.get('torch-tensorrt-rtx')} alike; the driver reported "
             f"{', '.join(sorted(set(results.get('driver_tensorrt') or []))) or 'no version'}).",
             f"Load average at start {results['load']['at_start']}, at end {results['load']['at_end']}; "
             f"1-minute load at the start of each run: median {_s(results['load'].get('median'))}, "
             f"max {_s(results['load'].get('max'))}.",
             f"Medians of {results['repeat']} repeat(s), seconds of process wall time (fork to exit). "
             f"Command: `{results['command']}` ({_s(results.get('duration_seconds'), 0)} s, {results['date']}).",
             "", table(results), ""]
    failed = [(mod["name"], name, err) for mod in results["models"]
              for name, s in mod["summary"]["scenarios"].items() for err in s["errors"]]
    for model, name, err in failed:
        lines.append(f"- {model}, {name}: {err}")
    lines += ["", "<details><summary>Stages of each cold build (medians)</summary>", "", stage_table(results), "",
              "</details>"]
    return "\n".join(lines).rstrip() + "\n"


def loads_of(models: list[dict[str, Any]]) -> list[float]:
    return [m["load1"] for mod in models for r in mod["rounds"] for m in r.values()
            if isinstance(m, dict) and m.get("load1") is not None]


def now() -> str:
    return time.strftime("%Y-%m-%d %H:%M %Z")
