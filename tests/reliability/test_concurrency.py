"""Concurrent `make`s sharing one cache (and one output dir) build each engine exactly once."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter

import pytest

import trtbuild
from tests.conftest import run_cli

from .conftest import cache_names, convnet_recipe, temp_files

MAKES = 8


@pytest.mark.slow
def test_eight_concurrent_makes_of_two_recipes_build_two_engines(recipe_dir, tmp_path):
    cache, out = tmp_path / "cache", tmp_path / "out"
    recipes = [convnet_recipe(recipe_dir, "r1", 4).name, convnet_recipe(recipe_dir, "r2", 5).name]
    env = dict(os.environ, TRTBUILD_CACHE_DIR=str(cache))
    procs = [subprocess.Popen([sys.executable, "-m", "trtbuild", "make", *(recipes if i % 2 else recipes[::-1]),
                               "--json", "--out-dir", str(out)], cwd=recipe_dir, env=env, text=True,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE)
             for i in range(MAKES)]
    finished = [(*p.communicate(timeout=900), p.returncode) for p in procs]

    assert [code for _, _, code in finished] == [0] * MAKES, [err[-2000:] for _, err, _ in finished]
    reports = [r for stdout, _, _ in finished for r in json.loads(stdout)["recipes"]]
    statuses = Counter(r["status"] for r in reports)
    engine_builds = sum(s["cache"] == "miss" for r in reports for s in r["segments"])
    waited = sum(r["timings"].get("lock", 0) > 0.2 for r in reports)
    print(f"\n{MAKES} makes x {len(recipes)} recipes: {dict(statuses)}; engine builds: {engine_builds}; "
          f"recipes that waited for another make's lock: {waited}")
    assert engine_builds == 2
    assert statuses == {"built": 2, "cached": MAKES * len(recipes) - 2}
    assert len({r["key"] for r in reports}) == 2
    for name in ("r1", "r2"):
        assert trtbuild.load(out / name).trtbuild_manifest["name"] == name
    assert temp_files(out) == [] and cache_names(cache, "lock") == []
    verify = run_cli("cache", "verify", "--json", env={"TRTBUILD_CACHE_DIR": str(cache)})
    assert verify.returncode == 0 and json.loads(verify.stdout)["problems"] == []
