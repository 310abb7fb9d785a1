"""Crash safety: a `make` killed at any moment leaves nothing a later run would accept, and the next
`make` completes. The slow test kills 30 real builds with SIGKILL at random moments."""

from __future__ import annotations

import json
import os
import random
import re
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

import trtbuild
from trtbuild.assembly import output
from trtbuild.cache.local import LocalStore, encode_meta
from tests.conftest import run_cli

from .conftest import cache_names, convnet_recipe, make_here, orphan_files, temp_files


def test_a_dead_writers_temp_files_are_removed_by_the_next_write_and_never_read(recipe_dir, tmp_path):
    recipe, cache, out = convnet_recipe(recipe_dir, "tiny"), tmp_path / "cache", tmp_path / "out"
    assert make_here(recipe, cache, out).status == "built"
    build = out / "tiny"
    # What a writer killed between mkstemp and rename leaves: half a manifest, half an engine.
    left = [build / ".manifest.json.k1ll3d.tmp", build / "engines" / f".{'0' * 64}.plan.k1ll3d.tmp"]
    for path in left:
        path.write_bytes(b'{"format": 1, "segm')
    trtbuild.load(build)  # readers only follow the manifest
    assert make_here(recipe, cache, out).status == "cached"
    assert temp_files(out) == []
    trtbuild.load(build)


def test_a_make_killed_after_storing_its_build_leaves_no_lock_behind(recipe_dir, tmp_path):
    """Killed between storing the build and releasing its lock: the next make finds the build cached,
    never asks for the lock, and removes the dead holder's entry."""
    recipe, cache, out = convnet_recipe(recipe_dir, "tiny"), tmp_path / "cache", tmp_path / "out"
    key = make_here(recipe, cache, out).key
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    store = LocalStore(cache)
    try:
        body, tag = encode_meta({"key": key, "pid": dead.pid, "host": socket.gethostname(), "time": time.time()})
        store._cache.set(f"lock/{key}", body, tag=tag)
    finally:
        store.close()
    assert cache_names(cache, "lock") == [f"lock/{key}"]
    assert make_here(recipe, cache, out).status == "cached"
    assert cache_names(cache, "lock") == []


def test_a_live_writers_temp_files_are_left_alone(tmp_path):
    """Writers of one output dir take turns, so the cleanup never pulls a file from under a live one."""
    build = tmp_path / "out"
    build.mkdir()
    live = build / ".manifest.json.live.tmp"
    done = threading.Event()
    with output._sole_writer(build):
        live.write_bytes(b"being written")
        other = threading.Thread(target=lambda: (output.write_artifacts(build, {"format": 1}, {}), done.set()))
        other.start()
        time.sleep(0.3)
        assert live.exists() and not done.is_set()  # the second writer waits for the first
    other.join(10)
    assert done.is_set() and not live.exists()  # the first is gone now: what it left is stale


# -- SIGKILL at random moments ----------------------------------------------------------------

KILLS = 30
IN_PARALLEL = 2  # two builds at a time, sharing one cache: kills also land while the other one writes


class KillRun:
    """Build recipe k<i>, kill it after a random delay, check what it left, then make it again."""

    def __init__(self, folder: Path, cache: Path, out: Path):
        self.folder, self.cache, self.out = folder, cache, out
        self.env = {"TRTBUILD_CACHE_DIR": str(cache)}
        # Seconds, on this machine: a whole make, and the part after it takes the build lock (convert,
        # build, store, write): set by calibrate().
        self.duration = self.late = 0.0

    def make(self, recipe: Path) -> subprocess.CompletedProcess:
        return run_cli("make", str(recipe), "--json", "--out-dir", str(self.out), cwd=self.folder, env=self.env)

    def start(self, recipe: Path) -> tuple[subprocess.Popen, Path]:
        """A make that reports each stage it reaches as a line "<name>: <stage>" in a file."""
        stages = self.folder / f"{recipe.stem}.stages"
        with open(stages, "w") as progress:
            proc = subprocess.Popen([sys.executable, "-m", "trtbuild", "make", str(recipe), "--out-dir",
                                     str(self.out)], cwd=self.folder, env=dict(os.environ, **self.env),
                                    stdout=subprocess.DEVNULL, stderr=progress)
        return proc, stages

    def calibrate(self) -> None:
        def timed(recipe: Path) -> tuple[float, float]:
            start = time.monotonic()
            proc, stages = self.start(recipe)
            _wait_for_line(stages, f"{recipe.stem}: lock", proc)
            locked = time.monotonic()
            assert proc.wait() == 0, stages.read_text()
            return time.monotonic() - start, time.monotonic() - locked

        recipes = [convnet_recipe(self.folder, f"calibrate{i}", channels=3 + i) for i in range(IN_PARALLEL)]
        with ThreadPoolExecutor(IN_PARALLEL) as pool:
            whole, after_lock = zip(*pool.map(timed, recipes))
        self.duration, self.late = max(whole), min(after_lock)

    def killed(self, i: int, rng: random.Random) -> tuple[Path, str]:
        """Start a fresh build of recipe k<i> and SIGKILL it: odd runs at any moment, even ones after they
        take the build lock. (The recipe, the last stage it reported.) A build that finishes first does
        not count: the next try builds the recipe anew, with other weights."""
        for attempt in range(10):
            recipe = convnet_recipe(self.folder, f"k{i}", channels=10 + i + 100 * attempt)
            proc, stages = self.start(recipe)
            if i % 2:
                delay = rng.uniform(0.05, 1.0) * self.duration
            else:
                _wait_for_line(stages, f"k{i}: lock", proc)
                delay = rng.uniform(0, 1.0) * self.late
            try:
                proc.wait(delay)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
                reported = re.findall(rf"^k{i}: (\w+)$", stages.read_text(), re.M)
                return recipe, reported[-1] if reported else "starting"
        raise AssertionError(f"ten builds of k{i} all finished within the delays drawn")

    def __call__(self, i: int) -> dict:
        recipe, stage = self.killed(i, random.Random(1000 + i))
        build = self.out / recipe.stem
        if (build / "manifest.json").exists():
            trtbuild.load(build)  # whatever the killed run left there is whole
        verify = run_cli("cache", "verify", "--json", env=self.env)
        problems = json.loads(verify.stdout)["problems"]
        again = self.make(recipe)
        key = json.loads(again.stdout)["recipes"][0]["key"] if again.returncode == 0 else None
        loaded = again.returncode == 0 and trtbuild.load(build).trtbuild_manifest["key"] == key
        return {"stage": stage, "problems": problems, "make_ok": again.returncode == 0, "loaded": loaded,
                "stderr": again.stderr[-2000:], "temp_files": temp_files(build)}


def _wait_for_line(path: Path, line: str, proc: subprocess.Popen) -> None:
    while line not in path.read_text() and proc.poll() is None:
        time.sleep(0.01)


@pytest.mark.slow
def test_builds_killed_at_random_moments_leave_nothing_a_later_run_accepts(recipe_dir, tmp_path):
    cache, out = tmp_path / "cache", tmp_path / "out"
    runner = KillRun(recipe_dir, cache, out)
    runner.calibrate()
    with ThreadPoolExecutor(IN_PARALLEL) as pool:
        runs = list(pool.map(runner, range(KILLS)))

    corrupt_found = sum(len(r["problems"]) for r in runs)
    print(f"\n{KILLS} makes killed (a make takes {runner.duration:.1f} s here, {runner.late:.1f} s of it after the "
          f"lock), by the stage they had reached: "
          f"{dict(Counter(r['stage'] for r in runs))}; corrupt entries found: {corrupt_found}; next make ok: "
          f"{sum(r['make_ok'] for r in runs)}, its output loads: {sum(r['loaded'] for r in runs)}; "
          f"value files no entry names: {len(orphan_files(cache))}")
    assert len(runs) == KILLS
    assert corrupt_found == 0, [r["problems"] for r in runs if r["problems"]]
    assert [r["stderr"] for r in runs if not r["make_ok"]] == []
    assert all(r["loaded"] for r in runs)
    assert [r["temp_files"] for r in runs if r["temp_files"]] == []
    assert cache_names(cache, "lock") == []  # every lock of a killed make was taken over and released
