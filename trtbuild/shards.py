"""`make --shard I/N`: split the recipes over N CI jobs so that their expected times are even.

Costs are the build times recorded in each recipe file's `latest` record (stamp.py), read from the
local cache, else the remote: every runner of a CI matrix sees the same records, so each computes
the same plan and every recipe lands in exactly one shard. Recipes with no record are dealt
round-robin in sorted order (the plan with no records at all is plain round-robin), each counted at
the median recorded cost; then the recorded ones go, longest first, to the least loaded shard
(LPT: within 4/3 of the best possible split). Ties break by shard index and path, so the plan is
deterministic for the same inputs.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class Shard:
    index: int  # 1-based, as on the command line
    recipes: list[Path] = field(default_factory=list)
    expected_seconds: float = 0.0


def recorded_costs(paths: list[Path], store: Any) -> dict[Path, float | None]:
    from .stamp import latest_name, shard_cost

    return {p: shard_cost(store.get_meta("latest", latest_name(p))) for p in paths}


def plan_shards(paths: list[Path], total: int, costs: dict[Path, float | None]) -> list[Shard]:
    shards = [Shard(i + 1) for i in range(total)]
    ordered = sorted(paths, key=str)
    known = sorted((p for p in ordered if costs.get(p) is not None), key=lambda p: (-costs[p], str(p)))
    guess = statistics.median(costs[p] for p in known) if known else 0.0
    for i, path in enumerate(p for p in ordered if costs.get(p) is None):
        shards[i % total].recipes.append(path)
        shards[i % total].expected_seconds += guess
    for path in known:
        lightest = min(shards, key=lambda s: (s.expected_seconds, s.index))
        lightest.recipes.append(path)
        lightest.expected_seconds += costs[path]
    for shard in shards:
        shard.recipes.sort(key=str)
    return shards


def describe(shards: list[Shard], index: int, costs: dict[Path, float | None]) -> dict[str, Any]:
    """The plan as `make --json` reports it."""
    return {"index": index, "total": len(shards), "recorded_costs": sum(c is not None for c in costs.values()),
            "recipes": len(costs),
            "expected_seconds": [round(s.expected_seconds, 3) for s in shards],
            "shard_recipes": [str(p) for p in shards[index - 1].recipes]}
