"""Human (rich) and machine (--json) output. JSON shapes are documented in the README."""

from __future__ import annotations

import json
import sys
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

err = Console(stderr=True, highlight=False)
out = Console(highlight=False, width=None if sys.stdout.isatty() else 140)


def emit_json(doc: Any) -> None:
    sys.stdout.write(json.dumps(doc, indent=2, sort_keys=False) + "\n")
    sys.stdout.flush()


# Messages quote user text (recipe keys, paths) that may look like markup: "[/b]" would crash rich.
def warn(message: str) -> None:
    err.print(f"[yellow]warning:[/] {escape(message)}", markup=True, soft_wrap=True)


def error(message: str, hint: str | None = None) -> None:
    """One error line (the file, the field or node, the message), then what to do next."""
    err.print(f"[red]error:[/] {escape(message)}", markup=True, soft_wrap=True)
    if hint:
        err.print(f"  [dim]hint:[/] {escape(hint)}", markup=True, soft_wrap=True)


def human_bytes(n: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n} B"


def make_table(results: list[dict[str, Any]]) -> Table:
    """One row per recipe: what happened, why (the reason or the error), and where the output went."""
    table = Table(title=None, show_lines=False)
    for col, justify in (("recipe", "left"), ("status", "left"), ("precision", "left"), ("segments", "left"),
                         ("cache", "left"),
                         ("build s", "right"), ("total s", "right"), ("engine", "right"), ("output", "left")):
        table.add_column(col, justify=justify, no_wrap=True)
    table.add_column("why", overflow="fold", min_width=24)
    colors = {"built": "green", "cached": "cyan", "failed": "red", "up-to-date": "cyan", "would build": "yellow"}
    for r in results:
        segs = r.get("segments") or []
        trt = [s for s in segs if s["kind"] == "tensorrt"]
        n_torch = len(segs) - len(trt)
        hits = sum(1 for s in trt if s.get("cache") == "hit")
        status = r["status"]
        table.add_row(
            escape(r["name"]), f"[{colors.get(status, 'white')}]{status}[/]", r.get("precision") or "-",
            f"{len(trt)} trt / {n_torch} torch" if segs else "-",
            f"{hits}/{len(trt)} hit" if trt else "-",
            f"{sum(s.get('build_seconds') or 0 for s in trt):.2f}",
            f"{r.get('seconds', 0):.2f}",
            human_bytes(sum(s.get("engine_bytes") or 0 for s in trt)) if trt else "-",
            escape(r.get("out_dir") or "-") if status != "failed" else "-",
            escape(why(r)),
        )
    return table


def why(report: dict[str, Any]) -> str:
    """The reason a recipe was built or reused, short ("up to date", "weights: 1 tensor changed (fc.bias)");
    for a failure, the error with the recipe's path left out (the row names the recipe)."""
    if report["status"] == "failed":
        return (report.get("error") or "failed").removeprefix(f"{report.get('path')}: ").splitlines()[0]
    reason = report.get("reason") or "-"
    return "up to date" if report.get("fast_path") or reason.startswith("up to date") else reason


def fallback_lines(results: list[dict[str, Any]], limit: int = 20) -> list[str]:
    """For each recipe just built: the ops it leaves to torch, why, and where the model makes them."""
    lines = []
    for r in results:
        fallbacks = [f for s in r.get("segments") or [] for f in s.get("fallbacks") or []]
        if r["status"] != "built" or not fallbacks:
            continue
        lines.append(f"{r['name']}: {len(fallbacks)} op(s) run in torch:")
        for f in fallbacks[:limit]:
            lines.append(f"  {f['node']} ({f['op']}): {f['reason']}" + (f" at {f['source']}" if f["source"] else ""))
        if len(fallbacks) > limit:
            lines.append(f"  ... and {len(fallbacks) - limit} more (make --dry-run lists them all)")
    return lines
