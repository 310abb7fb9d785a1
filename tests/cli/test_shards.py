"""`make --shard I/N`: shards balanced by recorded build costs, the same plan on every runner."""

from __future__ import annotations

import json
import random
from pathlib import Path

from tests.conftest import CONVNET, ROOT, run_cli, write_recipe
from trtbuild.coverage import read_table
from trtbuild.recipe import find_recipes, load_recipe
from trtbuild.shards import plan_shards
from trtbuild.stamp import RUN_ID_ENV, shard_cost


def zoo_costs() -> dict[Path, float]:
    """The build seconds docs/coverage.md records for each zoo model, for every recipe of recipes/
    (the five top-level recipes are zoo models too)."""
    seconds = {row["model"]: float(row["build s"]) for row in read_table(ROOT / "docs" / "coverage.md")}
    costs = {}
    for path in find_recipes([str(ROOT / "recipes")]):
        name = load_recipe(path).model.factory.rpartition(":")[2]
        costs[path] = seconds.get(load_recipe(path).display_name, seconds.get(name))
    return costs


def test_every_recipe_over_3_shards_is_within_25_percent():
    costs = zoo_costs()
    assert len(costs) == len(find_recipes([str(ROOT / "recipes")])) >= 29 and all(c is not None for c in costs.values()), costs
    shards = plan_shards(list(costs), 3, costs)
    loads = [s.expected_seconds for s in shards]
    assert max(loads) <= 1.25 * min(loads), loads
    assert sorted(p for s in shards for p in s.recipes) == sorted(costs)
    shuffled = list(costs)
    random.Random(1).shuffle(shuffled)  # every runner lists the files in its own order: same plan
    assert [s.recipes for s in plan_shards(shuffled, 3, costs)] == [s.recipes for s in shards]


def test_without_costs_the_plan_is_round_robin_and_unknown_recipes_count_at_the_median():
    paths = [Path(f"r{i}.toml") for i in range(5)]
    assert [s.recipes for s in plan_shards(paths, 2, {})] == [paths[0::2], paths[1::2]]
    costs = {paths[0]: 10.0, paths[1]: 2.0, paths[2]: 4.0}  # r3, r4 unknown: dealt first, 4 s each
    shards = plan_shards(paths, 2, costs)
    assert [s.recipes for s in shards] == [[paths[0], paths[3]], [paths[1], paths[2], paths[4]]]
    assert [s.expected_seconds for s in shards] == [14.0, 10.0]  # the best split once r3, r4 are placed


def test_a_shard_of_this_run_does_not_change_the_costs_another_shard_of_it_plans_with(monkeypatch):
    record = {"build_seconds": 9.0, "run": "42", "prior_build_seconds": 3.0}
    monkeypatch.setenv(RUN_ID_ENV, "42")
    assert shard_cost(record) == 3.0  # written by this run: the cost from before it
    monkeypatch.setenv(RUN_ID_ENV, "43")
    assert shard_cost(record) == 9.0  # the next run sees the new cost
    monkeypatch.delenv(RUN_ID_ENV)
    assert shard_cost(record) == 9.0 and shard_cost(None) is None


def check_shard(folder: Path, index: int, total: int) -> dict:
    proc = run_cli("make", "--check", "--shard", f"{index}/{total}", "--json", "a.toml", "b.toml", "c.toml",
                   cwd=folder)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def test_recorded_costs_plan_the_shards_and_json_reports_them(recipe_dir):
    for name, channels in (("a", 4), ("b", 5), ("c", 6)):
        write_recipe(recipe_dir, name, CONVNET.replace("[[inputs]]", f"kwargs = {{ channels = {channels} }}\n[[inputs]]"))
    before = run_cli("make", "--check", "--shard", "1/2", "--json", "a.toml", "b.toml", "c.toml", cwd=recipe_dir)
    assert json.loads(before.stdout)["shard"]["recorded_costs"] == 0  # nothing built yet: round-robin
    built = run_cli("make", "--json", "a.toml", "b.toml", "c.toml", cwd=recipe_dir)
    assert built.returncode == 0, built.stderr
    plans = [check_shard(recipe_dir, i, 2) for i in (1, 2)]
    shard = [p["shard"] for p in plans]
    assert shard[0]["expected_seconds"] == shard[1]["expected_seconds"]  # both runners plan alike
    assert all(s["recorded_costs"] == 3 and s["total"] == 2 for s in shard)
    names = [{r["name"] for r in p["recipes"]} for p in plans]
    assert names[0] | names[1] == {"a", "b", "c"} and not names[0] & names[1]
    assert all(s > 0 for s in shard[0]["expected_seconds"])
