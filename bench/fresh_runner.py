"""`python -m bench.fresh_runner`: an ephemeral CI runner against a warm remote cache, measured.

1. nginx (WebDAV, as in the tests) on a loopback port.
2. warm: a clone of this repository's HEAD runs `make recipes/ --remote-write` (every recipe built;
   their build costs recorded in the remote).
3. fresh runner, `--repeat` times: a new clone with an empty local cache runs `make recipes/` in a
   fresh process: wall time, whether torch was imported, bytes served by nginx, every recipe
   `cached` with `"fast_path": true`.
4. in the same run, what a fresh runner paid before stamps were portable: a new clone with an empty
   cache runs `make recipes/ --no-fast-path` (imports torch, exports and hashes every recipe, then
   finds its engines in the remote).
5. the 3-shard plan that `make --check --shard I/3` makes on a fresh clone from the costs the remote
   recorded.

Results go to bench/fresh_runner.json; `--write-docs` puts the table in docs/performance.md between
its "fresh-runner" markers.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from .machine import load, machine
from .report import median

ROOT = Path(__file__).resolve().parent.parent
BEGIN, END = "<!-- fresh-runner:begin (python -m bench.fresh_runner --write-docs) -->", "<!-- fresh-runner:end -->"
SPY = """
import sys
from trtbuild.cli.main import main
try:
    main(sys.argv[1:])
finally:
    print("torch imported:", "torch" in sys.modules, file=sys.stderr)
"""
GET_200 = re.compile(r'"GET [^"]+" 200 (\d+)')


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def clone(dest: Path) -> Path:
    subprocess.run(["git", "clone", "-q", str(ROOT), str(dest)], check=True)
    return dest


def make(folder: Path, env: dict[str, str], *args: str) -> dict[str, Any]:
    """`make recipes/ --json` in a fresh process in `folder`; wall time, report, torch imported."""
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", SPY, "make", "recipes/", "--json", *args], cwd=folder, env=env,
                          capture_output=True, text=True, timeout=7200)
    wall = time.perf_counter() - start
    if proc.returncode != 0 or not proc.stdout.strip():
        raise SystemExit(f"bench: make failed in {folder} ({proc.returncode}):\n{proc.stderr[-3000:]}")
    report = json.loads(proc.stdout)["recipes"]
    return {"wall": wall, "recipes": report, "torch_imported": "torch imported: True" in proc.stderr,
            "statuses": sorted({r["status"] for r in report}), "fast_path": sum(r["fast_path"] for r in report)}


def served_bytes(access_log: Path, offset: int) -> tuple[int, int]:
    """(bytes served by GET 200 after `offset` in the access log, new offset)."""
    text = access_log.read_text(errors="replace")
    return sum(int(m.group(1)) for m in GET_200.finditer(text[offset:])), len(text)


def run(args: argparse.Namespace) -> dict[str, Any]:
    from tests.cache.conftest import Nginx

    info = machine()
    with tempfile.TemporaryDirectory(prefix="trtbuild-fresh-runner-") as tmp:
        work = Path(tmp)
        server = Nginx(work / "nginx", work / "www")
        try:
            env = {**{k: v for k, v in os.environ.items() if not k.startswith("TRTBUILD_")},
                   "TRTBUILD_REMOTE_CACHE": server.url("team"), "TRTBUILD_CACHE_HMAC_KEY": "bench-team-secret-0123456789",
                   "NO_PROXY": "127.0.0.1", "no_proxy": "127.0.0.1", "PYTHONHASHSEED": "0"}
            log(f"bench.fresh_runner: load {load()}; warming the remote (every recipe built)")
            warm = make(clone(work / "ci"), env, "--remote-write")
            log(f"  warm: {warm['wall']:.1f} s, {len(warm['recipes'])} recipes, statuses {warm['statuses']}")
            offset = served_bytes(server.log, 0)[1]
            fresh, baseline = [], []
            for i in range(args.repeat):
                runner = clone(work / f"fresh{i}")
                fresh.append(make(runner, env))
                fresh[-1]["bytes"], offset = served_bytes(server.log, offset)
                log(f"  [{i + 1}/{args.repeat}] fresh runner: {fresh[-1]['wall']:.2f} s, "
                    f"{fresh[-1]['fast_path']}/{len(fresh[-1]['recipes'])} on the fast path, "
                    f"torch imported: {fresh[-1]['torch_imported']}, {fresh[-1]['bytes'] / 1e6:.0f} MB fetched")
                shutil.rmtree(runner)
                runner = clone(work / f"full{i}")
                baseline.append(make(runner, env, "--no-fast-path"))
                baseline[-1]["bytes"], offset = served_bytes(server.log, offset)
                log(f"  [{i + 1}/{args.repeat}] full path: {baseline[-1]['wall']:.2f} s")
                shutil.rmtree(runner)
            shards = shard_plan(clone(work / "planner"), env, 3)
        finally:
            server.stop()
    return {"date": time.strftime("%Y-%m-%d %H:%M %Z"), "machine": info, "load_at_end": load(),
            "repeat": args.repeat, "warm": _summary(warm), "fresh": [_summary(r) for r in fresh],
            "full_path": [_summary(r) for r in baseline],
            "shards": shards}


def shard_plan(folder: Path, env: dict[str, str], total: int) -> list[dict[str, Any]]:
    """The plan every shard of a CI matrix computes, as `make --check --shard I/N --json` reports it."""
    shards = []
    for index in range(1, total + 1):
        proc = subprocess.run([sys.executable, "-m", "trtbuild", "make", "--check", "--shard", f"{index}/{total}",
                               "--json", "recipes/"], cwd=folder, env=env, capture_output=True, text=True)
        plan = json.loads(proc.stdout)["shard"]
        shards.append({"index": index, "recipes": len(plan["shard_recipes"]),
                       "expected_seconds": plan["expected_seconds"][index - 1],
                       "recorded_costs": plan["recorded_costs"]})
    return shards


def _summary(run: dict[str, Any]) -> dict[str, Any]:
    return {k: (round(v, 3) if isinstance(v, float) else v) for k, v in run.items() if k != "recipes"} | {
        "recipes": len(run["recipes"])}


def markdown(results: dict[str, Any]) -> str:
    fresh, full = results["fresh"], results["full_path"]
    m = results["machine"]
    shards = results["shards"]
    spread = (max(s["expected_seconds"] for s in shards) / min(s["expected_seconds"] for s in shards) - 1) * 100
    lines = [
        f"Measured {results['date']} on {m['cpu']} ({m['cores']} cores), load {m['load_at_start']} at start, "
        f"{results['load_at_end']} at end; `python -m bench.fresh_runner --repeat {results['repeat']}`; "
        f"medians of {results['repeat']}.",
        "",
        "| fresh clone, empty local cache, warm nginx remote | `make recipes/` wall | recipes | fast path | torch imported | MB fetched |",
        "|---|---|---|---|---|---|",
        f"| stamps from the remote (this version) | {median([r['wall'] for r in fresh]):.2f} s | {fresh[0]['recipes']} "
        f"| {median([r['fast_path'] for r in fresh]):.0f} | {'yes' if any(r['torch_imported'] for r in fresh) else 'no'} "
        f"| {median([r['bytes'] for r in fresh]) / 1e6:.0f} |",
        f"| full path (`--no-fast-path`: export and hash every recipe, as before) | {median([r['wall'] for r in full]):.2f} s "
        f"| {full[0]['recipes']} | 0 | yes | {median([r['bytes'] for r in full]) / 1e6:.0f} |",
        "",
        f"The warm-up (every recipe built by the CI clone, `--remote-write`) took {results['warm']['wall']:.0f} s. "
        f"From the build costs it recorded, `--shard I/3` plans {', '.join(str(s['expected_seconds']) + ' s' for s in shards)} "
        f"({', '.join(str(s['recipes']) for s in shards)} recipes): the slowest shard is {spread:.0f}% above the fastest.",
    ]
    return "\n".join(lines)


def write_docs(path: Path, text: str) -> None:
    doc = path.read_text()
    block = f"{BEGIN}\n{text}\n{END}"
    if BEGIN in doc:
        doc = doc[:doc.index(BEGIN)] + block + doc[doc.index(END) + len(END):]
    else:
        doc = doc.rstrip() + "\n\n## Fresh runner\n\nA CI runner with a fresh clone and an empty local cache, " \
              "against a warm remote (see docs/ci.md).\n\n" + block + "\n"
    path.write_text(doc)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.fresh_runner", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--json", dest="json_path", default=str(ROOT / "bench" / "fresh_runner.json"))
    parser.add_argument("--from-json", metavar="PATH", help="run nothing: format a saved result")
    parser.add_argument("--write-docs", action="store_true", help="update docs/performance.md")
    args = parser.parse_args(argv)
    if args.from_json:
        results = json.loads(Path(args.from_json).read_text())
    else:
        results = run(args)
        Path(args.json_path).write_text(json.dumps(results, indent=1) + "\n")
    text = markdown(results)
    print(text)
    if args.write_docs:
        write_docs(ROOT / "docs" / "performance.md", text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
