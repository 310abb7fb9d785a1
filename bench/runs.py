"""Fresh-process runs: wall time and the peak RSS of exactly that process (os.wait4), never cumulative."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .machine import load

# Environment that would make a cold run not cold, or reach out to a shared cache.
SCRUBBED_ENV = ("TRTBUILD_CACHE_DIR", "TRTBUILD_REMOTE_CACHE")


@dataclass
class ChildRun:
    argv: list[str]
    returncode: int
    wall: float  # seconds, fork to reap: interpreter start-up and imports included
    max_rss_mib: float  # peak resident set of this child (ru_maxrss of its own rusage)
    user: float
    system: float
    stdout: str
    stderr: str
    load1: float | None = None  # 1-minute load average when the run started
    timed_out: bool = False

    def tail(self, lines: int = 5) -> str:
        return "\n".join(self.stderr.strip().splitlines()[-lines:])


def run_child(argv: list[str], *, env: dict[str, str] | None = None, cwd: str | Path | None = None,
              timeout: float = 1800.0) -> ChildRun:
    """Run argv to completion; reap it with wait4 so the rusage is this process's alone."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        load1 = (load() or [None])[0]
        start = time.perf_counter()
        proc = subprocess.Popen(argv, stdout=out, stderr=err, stdin=subprocess.DEVNULL, env=env, cwd=cwd)
        timed_out = threading.Event()

        def kill() -> None:
            timed_out.set()
            try:
                os.kill(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

        timer = threading.Timer(timeout, kill)
        timer.start()
        try:
            _, status, usage = os.wait4(proc.pid, 0)
        finally:
            timer.cancel()
        wall = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)  # reaped here: Popen must not wait again
        out.seek(0)
        err.seek(0)
        return ChildRun(list(argv), proc.returncode, wall, usage.ru_maxrss / 1024.0, usage.ru_utime,
                        usage.ru_stime, out.read().decode(errors="replace"), err.read().decode(errors="replace"),
                        load1, timed_out.is_set())


def child_env(pythonpath: str | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in SCRUBBED_ENV}
    if pythonpath:
        env["PYTHONPATH"] = pythonpath + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env.setdefault("PYTHONHASHSEED", "0")
    return env


def snapshot_package(root: Path, dest: Path) -> Path:
    """Copy trtbuild/ so concurrent edits to the working tree cannot change the compiler digest
    (and so every cache key) halfway through a benchmark. Byte-compiled up front: the first cold
    run must not pay for writing .pyc files."""
    import compileall

    target = dest / "trtbuild"
    shutil.copytree(root / "trtbuild", target, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    compileall.compile_dir(str(target), quiet=1)
    return dest


@dataclass
class MakeRun:
    """One `trtbuild make --json` of one recipe."""

    kind: str  # cold | cached | noop
    child: ChildRun
    report: dict[str, Any] | None = None
    error: str | None = None

    def summary(self) -> dict[str, Any]:
        rep = self.report or {}
        segments = rep.get("segments") or []
        trt = [s for s in segments if s.get("kind") == "tensorrt"]
        return {
            "kind": self.kind,
            "name": rep.get("name"),
            "wall": round(self.child.wall, 4),
            "max_rss_mib": round(self.child.max_rss_mib, 1),
            "cpu_seconds": round(self.child.user + self.child.system, 3),
            "load1": self.child.load1,
            "status": rep.get("status"),
            "key": rep.get("key"),
            "fast_path": rep.get("fast_path"),
            "reason": rep.get("reason"),
            "seconds": rep.get("seconds"),
            "timings": rep.get("timings") or {},
            "trt_build": round(sum(float(s.get("build_seconds") or 0.0) for s in trt), 4),
            "engine_bytes": sum(int(s.get("engine_bytes") or 0) for s in trt),
            "segments": {"tensorrt": len(trt), "torch": len(segments) - len(trt)},
            "error": self.error,
        }


def make_once(python: str, recipe: str, cache: Path, out: Path, kind: str, *, cwd: Path,
              env: dict[str, str], no_fast_path: bool = False) -> MakeRun:
    argv = [python, "-m", "trtbuild", "make", recipe, "--json", "--cache-dir", str(cache), "--out-dir", str(out)]
    if no_fast_path:
        argv.append("--no-fast-path")
    child = run_child(argv, env=env, cwd=cwd)
    run = MakeRun(kind, child)
    try:
        reports = json.loads(child.stdout)["recipes"]
        run.report = reports[0] if reports else None
    except (ValueError, KeyError, IndexError, TypeError):
        run.error = f"exit {child.returncode}, no JSON report: {child.tail()}"
        return run
    if child.timed_out:
        run.error = "timed out"
    elif child.returncode != 0 or (run.report or {}).get("status") == "failed":
        run.error = f"exit {child.returncode}: {(run.report or {}).get('error') or child.tail()}"
    return run


def make_triple(python: str, recipe: str, *, cwd: Path, env: dict[str, str],
                tmp_root: str | None = None) -> dict[str, Any]:
    """Cold make in a fresh cache and out dir, then the same again with --no-fast-path (engine
    cached, export and hashing still done), then a plain no-op make (fast path)."""
    work = Path(tempfile.mkdtemp(prefix="trtbuild-bench-", dir=tmp_root))
    try:
        cache, out = work / "cache", work / "out"
        cold = make_once(python, recipe, cache, out, "cold", cwd=cwd, env=env)
        runs = [cold]
        if cold.error is None:
            runs.append(make_once(python, recipe, cache, out, "cached", cwd=cwd, env=env, no_fast_path=True))
            runs.append(make_once(python, recipe, cache, out, "noop", cwd=cwd, env=env))
        return {r.kind: r.summary() for r in runs} | {"problems": check_triple(runs)}
    finally:
        shutil.rmtree(work, ignore_errors=True)


def check_triple(runs: list[MakeRun]) -> list[str]:
    """What makes this triple not the measurement it claims to be (empty when all is well)."""
    problems = [f"{r.kind}: {r.error}" for r in runs if r.error]
    by_kind = {r.kind: r.report or {} for r in runs if r.error is None}
    cold, cached, noop = by_kind.get("cold"), by_kind.get("cached"), by_kind.get("noop")
    if cold is not None and cold.get("status") != "built":
        problems.append(f"cold: status {cold.get('status')!r}, expected 'built'")
    if cold is not None and cached is not None:
        if cached.get("status") != "cached" or cached.get("key") != cold.get("key"):
            problems.append(f"cached: status {cached.get('status')!r} ({cached.get('reason')}), expected a cache hit "
                            "on the cold run's key")
        if cached.get("fast_path"):
            problems.append("cached: took the fast path despite --no-fast-path")
    if noop is not None and noop.get("fast_path") is not True:
        problems.append(f"noop: fast_path is {noop.get('fast_path')!r}, expected true ({noop.get('reason')})")
    return problems


def import_times(python: str, repeat: int, env: dict[str, str], cwd: Path) -> dict[str, Any]:
    """Process wall of `python -c STATEMENT`: the floor any torch-based tool pays before working."""
    from importlib.util import find_spec

    trt = "tensorrt_rtx" if find_spec("tensorrt_rtx") else ("tensorrt" if find_spec("tensorrt") else None)
    statements = {"python": "pass", "torch": "import torch"}
    if trt:
        statements["torch_torchvision_tensorrt"] = f"import torch, torchvision, {trt}"
    statements["trtbuild_pipeline"] = "import trtbuild.pipeline"
    results: dict[str, Any] = {}
    for name, statement in statements.items():
        walls, rss = [], []
        for _ in range(repeat):
            child = run_child([python, "-c", statement], env=env, cwd=cwd)
            if child.returncode == 0:
                walls.append(round(child.wall, 4))
                rss.append(round(child.max_rss_mib, 1))
        results[name] = {"statement": statement, "walls": walls, "max_rss_mib": rss}
    return results


def run_hashing(python: str, gib: float, repeat: int, env: dict[str, str], cwd: Path) -> dict[str, Any]:
    child = run_child([python, "-m", "bench.hashing", "--gib", str(gib), "--repeat", str(repeat), "--json"],
                      env=env, cwd=cwd)
    if child.returncode != 0:
        return {"error": f"exit {child.returncode}: {child.tail()}"}
    try:
        return json.loads(child.stdout) | {"max_rss_mib": round(child.max_rss_mib, 1)}
    except ValueError:
        return {"error": f"no JSON from bench.hashing: {child.tail()}"}


def default_python() -> str:
    venv = Path(__file__).resolve().parent.parent / ".venv" / "bin" / "python"
    return str(venv) if venv.exists() else sys.executable
