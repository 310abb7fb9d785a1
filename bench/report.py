"""Medians over repeats, the markdown table, and the docs block. Pure functions on the results JSON."""

from __future__ import annotations

import statistics
from pathlib import Path
from typing import Any, Iterable

from .machine import describe

STAGE_ORDER = ("import", "export", "lower", "partition", "convert", "build", "write")
START, END = "<!-- bench:start -->", "<!-- bench:end -->"
COMPARE_MARKERS = ("<!-- compare:start -->", "<!-- compare:end -->")


def median(values: Iterable[float | None]) -> float | None:
    vals = [float(v) for v in values if v is not None]
    return statistics.median(vals) if vals else None


def stage_names(triples: list[dict[str, Any]]) -> list[str]:
    seen: list[str] = []
    for t in triples:
        for name in (t.get("cold") or {}).get("timings", {}):
            if name not in seen:
                seen.append(name)
    known = [s for s in STAGE_ORDER if s in seen]
    return known + [s for s in seen if s not in STAGE_ORDER]


def derived(cold: dict[str, Any], torch_import: float | None = None) -> dict[str, float | None]:
    """Per-run numbers computed from one cold run (medians are taken over these, per repeat)."""
    timings = cold.get("timings") or {}
    wall = cold.get("wall")
    export = timings.get("export")
    trt = cold.get("trt_build")
    overhead = wall - (export or 0.0) - (trt or 0.0) if wall is not None else None
    seconds = cold.get("seconds")  # make_recipe's own clock, as reported in the JSON
    return {
        "unstaged": wall - sum(timings.values()) if wall is not None and timings else None,
        "outside_make": wall - seconds if wall is not None and seconds is not None else None,
        "unstaged_in_make": seconds - sum(timings.values()) if seconds is not None and timings else None,
        "overhead": overhead,
        "overhead_minus_torch_import": overhead - torch_import if overhead is not None and torch_import else None,
    }


def summarize_recipe(triples: list[dict[str, Any]], torch_import: float | None = None) -> dict[str, Any]:
    """Medians of every number over the repeats whose triple was clean (no problems)."""
    good = [t for t in triples if not t.get("problems")]
    colds = [t["cold"] for t in good if "cold" in t]
    stages = stage_names(good)
    out: dict[str, Any] = {
        "runs": len(triples),
        "valid_runs": len(good),
        "cold_wall": median(c.get("wall") for c in colds),
        "stages": {s: median(c.get("timings", {}).get(s) for c in colds) for s in stages},
        "trt_build": median(c.get("trt_build") for c in colds),
        "cold_max_rss_mib": median(c.get("max_rss_mib") for c in colds),
        "cold_cpu_seconds": median(c.get("cpu_seconds") for c in colds),
        "engine_bytes": median(c.get("engine_bytes") for c in colds),
        "segments": colds[0].get("segments") if colds else None,
        "cached_wall": median(t.get("cached", {}).get("wall") for t in good),
        "cached_cpu_seconds": median(t.get("cached", {}).get("cpu_seconds") for t in good),
        "cached_max_rss_mib": median(t.get("cached", {}).get("max_rss_mib") for t in good),
        "noop_wall": median(t.get("noop", {}).get("wall") for t in good),
        "noop_max_rss_mib": median(t.get("noop", {}).get("max_rss_mib") for t in good),
        "load1": median(c.get("load1") for c in colds),
        "problems": [p for t in triples for p in t.get("problems", [])],
    }
    per_run = [derived(c, torch_import) for c in colds]
    for key in ("unstaged", "outside_make", "unstaged_in_make", "overhead", "overhead_minus_torch_import"):
        out[key] = median(d[key] for d in per_run)
    return out


def import_medians(imports: dict[str, Any]) -> dict[str, float | None]:
    return {name: median(entry.get("walls", [])) for name, entry in (imports or {}).items()}


def _s(value: float | None, digits: int = 2) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def _mb(value: float | None) -> str:
    return "—" if value is None else f"{value / 1e6:.1f}"


def _mib(value: float | None) -> str:
    return "—" if value is None else f"{value:.0f}"


def _stage_columns(recipes: list[dict[str, Any]]) -> list[str]:
    stages: list[str] = []
    for r in recipes:
        for s in (r.get("summary") or {}).get("stages", {}):
            if s not in stages:
                stages.append(s)
    return [s for s in STAGE_ORDER if s in stages] + [s for s in stages if s not in STAGE_ORDER]


def _render(head: list[str], rows: list[dict[str, str]]) -> list[str]:
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join(["---"] + ["---:"] * (len(head) - 1)) + "|"]
    return lines + ["| " + " | ".join(row.get(h, "—") for h in head) + " |" for row in rows]


def table(results: dict[str, Any]) -> str:
    """Two markdown tables: where a cold make's time goes, then the other runs, memory and sizes."""
    recipes = results.get("recipes", [])
    stages = _stage_columns(recipes)
    # the build stage is shown as TensorRT's own build_serialized_network time (sum over segments)
    stage_cols = ["TRT build" if st == "build" else st for st in stages]
    if "TRT build" not in stage_cols:
        stage_cols.append("TRT build")
    cold_head = (["model", "cold wall", "cold CPU"] + stage_cols
                 + ["start+exit", "unstaged", "own overhead", "own − torch import"])
    other_head = ["model", "cold wall", "cache hit", "no-op", "peak RSS MiB (cold)", "peak RSS MiB (cache hit)",
                  "peak RSS MiB (no-op)", "engine MB", "segments TRT/torch", "clean runs"]
    cold_rows, other_rows = [], []
    for r in recipes:
        s = r.get("summary") or {}
        name = r.get("name", "?")
        row = {"model": name, "cold wall": _s(s.get("cold_wall")), "cold CPU": _s(s.get("cold_cpu_seconds")),
               "TRT build": _s(s.get("trt_build")), "start+exit": _s(s.get("outside_make")),
               "unstaged": _s(s.get("unstaged_in_make")), "own overhead": _s(s.get("overhead")),
               "own − torch import": _s(s.get("overhead_minus_torch_import"))}
        for stage in stages:
            if stage != "build":
                row[stage] = _s((s.get("stages") or {}).get(stage))
        cold_rows.append(row)
        seg = s.get("segments") or {}
        other_rows.append({"model": name, "cold wall": _s(s.get("cold_wall")), "cache hit": _s(s.get("cached_wall")),
                           "no-op": _s(s.get("noop_wall")), "peak RSS MiB (cold)": _mib(s.get("cold_max_rss_mib")),
                           "peak RSS MiB (cache hit)": _mib(s.get("cached_max_rss_mib")),
                           "peak RSS MiB (no-op)": _mib(s.get("noop_max_rss_mib")),
                           "engine MB": _mb(s.get("engine_bytes")),
                           "segments TRT/torch": f"{seg.get('tensorrt', '—')}/{seg.get('torch', '—')}",
                           "clean runs": f"{s.get('valid_runs', 0)}/{s.get('runs', 0)}"})
    return "\n".join(_render(cold_head, cold_rows) + [""] + _render(other_head, other_rows))


def markdown(results: dict[str, Any]) -> str:
    m = results.get("machine", {})
    imports = import_medians(results.get("imports", {}))
    lines = [f"Machine: {describe(m)}.",
             f"Load average (1 min) at the start of the cold runs: median {_s(results.get('load', {}).get('median'))}, "
             f"max {_s(results.get('load', {}).get('max'))} "
             f"(at start {m.get('load_at_start')}, at end {results.get('load', {}).get('at_end')}).",
             f"Medians of {results.get('repeat')} repeat(s); seconds of process wall time unless stated. "
             f"Command: `{results.get('command', 'python -m bench')}` ({_s(results.get('duration_seconds'), 0)} s, "
             f"{results.get('date', '')}).", "", table(results), ""]
    if imports:
        def rss(k: str) -> str:
            value = median(results["imports"][k].get("max_rss_mib", []))
            return f" ({value:.0f} MiB)" if value else ""

        parts = ", ".join(f"`{results['imports'][k]['statement']}` {_s(v)} s{rss(k)}" for k, v in imports.items())
        lines.append(f"- Fresh-process import floor (median of {len(next(iter(results['imports'].values()))['walls'])}): "
                     f"{parts}.")
    h = results.get("hashing") or {}
    if h.get("error"):
        lines.append(f"- Weight hashing: failed ({h['error']}).")
    elif h:
        lines.append(f"- Weight hashing, {h['bytes'] / (1 << 30):.2f} GiB state dict ({h['tensors']} float32 tensors of "
                     f"{h['tensor_mib']} MiB): `digest_tensors` {h['digest_tensors_gbps']} GB/s vs single-threaded "
                     f"`hashlib.sha256` {h['sha256_gbps']} GB/s (x{h['speedup']}, {h['threads']} threads"
                     + (f"; the threads got {h['digest_tensors_parallelism']} cores' worth of CPU against "
                        f"{h['sha256_parallelism']} for one thread, and SHA-256 runs at "
                        f"{h['sha256_gb_per_cpu_second']} GB per CPU-second here"
                        if h.get("digest_tensors_parallelism") is not None else "") + ").")
    problems = [(r.get("name"), p) for r in results.get("recipes", []) for p in (r.get("summary") or {}).get("problems", [])]
    for name, problem in problems:
        lines.append(f"- Discarded run of {name}: {problem}")
    return "\n".join(lines).rstrip() + "\n"


def replace_block(text: str, block: str, markers: tuple[str, str] = (START, END)) -> str:
    """Replace what is between the markers (markers kept); append the markers if absent."""
    first, last = markers
    start, end = text.find(first), text.find(last)
    if start == -1 or end == -1 or end < start:
        return text.rstrip() + f"\n\n{first}\n{block.rstrip()}\n{last}\n"
    return text[:start + len(first)] + "\n" + block.rstrip() + "\n" + text[end:]


def write_docs(path: Path, block: str, markers: tuple[str, str] = (START, END)) -> None:
    text = path.read_text() if path.exists() else "# Performance\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(replace_block(text, block, markers))
