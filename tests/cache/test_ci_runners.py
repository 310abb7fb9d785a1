"""CI on ephemeral runners: fresh clones with empty local caches share one remote (real nginx WebDAV
and moto S3). The up-to-date recipes take the fast path from the remote without importing torch; a
changed one takes the full path and says why; concurrent writers build each engine once, and a
killed lease holder is taken over after its lease expires.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from tests.cache.conftest import HMAC_ENV, S3Harness, HttpHarness, Run, make  # noqa: F401
from tests.conftest import FIXTURES, ROOT
from tests.fixtures.tiny_models import ConvNet

RECIPE = '''[model]
factory = "tiny_models:convnet"
kwargs = {{ channels = {channels} }}
{weights}[[inputs]]
name = "x"
shape = [1, 3, 7, 7]
'''
TRTBUILD = f"{sys.executable} -m trtbuild"


@pytest.fixture(params=["http", "s3"])
def remote(request, tmp_path_factory):  # a test may narrow it: parametrize("remote", [...], indirect=True)
    """(harness, a fresh namespace) on nginx or moto."""
    harness = request.getfixturevalue(f"{request.param}_harness_ci")
    return harness, f"ci-{tmp_path_factory.mktemp('ns').name}"


@pytest.fixture(scope="session")
def http_harness_ci(nginx):
    return HttpHarness(nginx, HMAC_ENV)


@pytest.fixture(scope="session")
def s3_harness_ci(moto):
    return S3Harness(moto, HMAC_ENV, HMAC_ENV)


def save_weights(path: Path, channels: int, bump: str | None = None) -> None:
    torch.manual_seed(channels)
    state = ConvNet(channels=channels).state_dict()
    if bump:
        state[bump] = state[bump] + 1
    save_file(state, str(path))


def project(folder: Path, names=("a", "b")) -> Path:
    """A git repository like a team's: a trtbuild.toml at the root, recipes/, a model module, weights."""
    recipes = folder / "recipes"
    recipes.mkdir(parents=True)
    (folder / "trtbuild.toml").write_text('[settings]\nmin_block_size = 1\n')
    (recipes / "tiny_models.py").write_text((FIXTURES / "tiny_models.py").read_text())
    for i, name in enumerate(names):
        channels = 4 + i
        weights = ""
        if name == "a":
            save_weights(recipes / "a.safetensors", channels)
            weights = 'weights = "a.safetensors"\n'
        (recipes / f"{name}.toml").write_text(RECIPE.format(channels=channels, weights=weights))
    git(folder, "init", "-q")
    git(folder, "add", ".")
    git(folder, "commit", "-qm", "recipes")
    return folder


def git(folder: Path, *args: str) -> None:
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=folder, check=True,
                   capture_output=True)


def clone(origin: Path, dest: Path) -> Path:
    """A fresh runner's checkout: new mtimes, another absolute path, no cache."""
    subprocess.run(["git", "clone", "-q", str(origin), str(dest)], check=True, capture_output=True)
    (dest / "scripts").mkdir()
    (dest / "scripts" / "ci-runner.sh").write_text((ROOT / "scripts" / "ci-runner.sh").read_text())
    return dest


def env_for(harness, ns: str, **extra: str) -> dict:
    """A runner's environment: the team remote and key; the local cache is ./cache in its own clone."""
    return {**harness.env(ns), **harness.writer_env, "TRTBUILD_CACHE_DIR": "", **extra}


SPY = """
import sys
from trtbuild.cli.main import main
try:
    main(sys.argv[1:])
finally:
    print("torch imported:", "torch" in sys.modules, file=sys.stderr)
"""


def make_spied(folder: Path, env: dict, *args: str) -> tuple[Run, bool]:
    """`trtbuild make --json` in a child process that reports whether torch was imported."""
    proc = subprocess.run([sys.executable, "-c", SPY, "make", "--json", *args], cwd=folder,
                          env=dict(os.environ, **env), capture_output=True, text=True, timeout=600)
    imported = "torch imported: True" in proc.stderr
    assert "torch imported:" in proc.stderr, proc.stderr
    return Run(proc), imported


LOAD = "import sys, trtbuild; [trtbuild.load(d) for d in sys.argv[1:]]; print('loaded')"


def loads(*dirs: Path) -> None:
    proc = subprocess.run([sys.executable, "-c", LOAD, *map(str, dirs)], capture_output=True, text=True)
    assert proc.stdout.strip() == "loaded", proc.stderr


def names(harness, ns: str, kind: str) -> set[str]:
    return {n for n in harness.names(ns) if n.startswith(kind + "/")}


# -- the fast path from the remote ------------------------------------------------------------

def test_fresh_runner_reuses_the_remote_without_torch_and_a_change_takes_the_full_path(remote, tmp_path):
    harness, ns = remote
    origin = project(tmp_path / "origin")
    ci = clone(origin, tmp_path / "ci")
    built, _ = make_spied(ci, env_for(harness, ns), "recipes/", "--remote-write")
    assert built.code == 0 and [r["status"] for r in built.report["recipes"]] == ["built", "built"], built
    assert len(names(harness, ns, "stamp")) == 2 and len(names(harness, ns, "latest")) == 2

    fresh = clone(origin, tmp_path / "fresh")  # another runner: another path, new mtimes, empty cache
    assert not (fresh / "cache").exists()
    run, imported = make_spied(fresh, env_for(harness, ns), "recipes/")
    assert run.code == 0 and run.warnings == [], run
    assert not imported
    for report, before in zip(run.report["recipes"], built.report["recipes"]):
        assert (report["status"], report["fast_path"], report["key"]) == ("cached", True, before["key"]), report
        assert harness.served(ns, f"recipe/{report['key']}")  # downloaded from the remote
    loads(fresh / "build" / "a", fresh / "build" / "b")

    # One weight changed on the fresh runner: `a` takes the full path and says what changed, by
    # comparing with the last build CI recorded in the remote; `b` stays on the fast path.
    save_weights(fresh / "recipes" / "a.safetensors", 4, bump="fc.bias")
    shutil_rm(fresh / "build")
    run, imported = make_spied(fresh, env_for(harness, ns), "recipes/")
    a, b = run.report["recipes"]
    assert a["status"] == "built" and not a["fast_path"], a
    assert "weights: 1 tensor changed (fc.bias)" in a["reason"], a
    assert b["status"] == "cached" and b["fast_path"], b
    assert imported  # a rebuilt here

    # The factory's source edited, the graph the same: the full path, a hit by graph key, and why.
    source = fresh / "recipes" / "tiny_models.py"
    source.write_text(source.read_text() + "\n# a comment\n")
    run, _ = make_spied(fresh, env_for(harness, ns), "recipes/b.toml")
    [b] = run.report["recipes"]
    assert (b["status"], b["fast_path"]) == ("cached", False), b
    assert "stamp changed (module:tiny_models changed)" in b["reason"], b


def shutil_rm(path: Path) -> None:
    import shutil

    shutil.rmtree(path, ignore_errors=True)


def test_gate_and_two_concurrent_runners_build_every_engine_once(remote, tmp_path):
    """docs/ci.md's flow as the script runs it: the gate says there is work; two runners on the same
    new recipes (both shard 1/1, the worst case) with separate caches build each engine once."""
    harness, ns = remote
    origin = project(tmp_path / "origin", names=("a", "b", "c"))
    env = dict(os.environ, **env_for(harness, ns, TRTBUILD=TRTBUILD, TRTBUILD_REMOTE_WRITE="1"))
    runners = [clone(origin, tmp_path / f"runner{i}") for i in (1, 2)]
    gate = subprocess.run(["bash", "scripts/ci-runner.sh", "gate"], cwd=runners[0], env=env, capture_output=True,
                          text=True, timeout=600)
    assert gate.returncode == 3, gate.stderr
    procs = [subprocess.Popen(["bash", "scripts/ci-runner.sh", "build", "1/1"], cwd=r, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for r in runners]
    outputs = [p.communicate(timeout=600) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outputs
    reports = [json.loads((r / "build" / "make-shard-1.json").read_text())["recipes"] for r in runners]
    statuses = {}
    for report in reports:
        for r in report:
            statuses.setdefault(r["name"], []).append(r["status"])
    assert {name: sorted(s) for name, s in statuses.items()} == {n: ["built", "cached"] for n in "abc"}, outputs
    engines = [s for report in reports for r in report for s in r["segments"] if s["kind"] == "tensorrt"]
    assert sum(s["cache"] == "miss" for s in engines) == 3  # one engine per recipe, each built once
    for runner in runners:
        loads(*(runner / "build" / n for n in "abc"))
    third = clone(origin, tmp_path / "runner3")
    gate = subprocess.run(["bash", "scripts/ci-runner.sh", "gate"], cwd=third, env=env, capture_output=True,
                          text=True, timeout=600)
    assert gate.returncode == 0, gate.stdout + gate.stderr  # all built: nothing for the next job to do


HANG = """
import sys, time
import trtbuild.pipeline as pipeline
def hang(*args, **kwargs):
    print("building", file=sys.stderr, flush=True)
    time.sleep(600)
pipeline.compile_program = hang
from trtbuild.cli.main import main
main(sys.argv[1:])
"""


@pytest.mark.parametrize("remote", ["http"], indirect=True)  # S3's conditional PUT: test_lease.py
def test_a_killed_lease_holder_is_taken_over_after_expiry(remote, tmp_path):
    """Runner 1 takes the lease and hangs in the build; runner 2 waits on it; runner 1 is killed
    (SIGKILL: no release); runner 2 takes the lease over once it expires and builds."""
    harness, ns = remote
    origin = project(tmp_path / "origin", names=("b",))
    env = dict(os.environ, **env_for(harness, ns, TRTBUILD_LEASE_TTL="4"))
    first, second = clone(origin, tmp_path / "r1"), clone(origin, tmp_path / "r2")
    holder = subprocess.Popen([sys.executable, "-c", HANG, "make", "recipes/", "--remote-write"], cwd=first,
                              env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    waiter = None
    try:
        deadline = time.monotonic() + 600
        while not names(harness, ns, "lease"):  # the holder has claimed generation 1
            assert holder.poll() is None and time.monotonic() < deadline, holder.communicate()
            time.sleep(0.05)
        waiter = subprocess.Popen([sys.executable, "-m", "trtbuild", "make", "recipes/", "--remote-write", "--json"],
                                  cwd=second, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        lines = iter(waiter.stderr.readline, "")
        waiting = next((line for line in lines if "waiting for" in line), "")
        assert f":{holder.pid}:" in waiting, (waiting, holder.stderr.read() if holder.poll() is not None else "")
        holder.send_signal(signal.SIGKILL)
        killed = time.monotonic()
        stdout, _ = waiter.communicate(timeout=600)
    finally:
        for proc in (holder, waiter):
            if proc is not None and proc.poll() is None:
                proc.kill()
            if proc is not None:
                proc.communicate()
    assert waiter.returncode == 0
    [report] = json.loads(stdout)["recipes"]
    assert report["status"] == "built", report
    assert time.monotonic() - killed >= 2  # it waited for the dead holder's lease to expire
    leases = names(harness, ns, "lease")
    assert any(n.split("/")[2] == "2" for n in leases), leases  # the takeover is generation 2


@pytest.mark.parametrize("remote", ["s3"], indirect=True)
def test_read_only_runners_never_take_leases(remote, tmp_path):
    harness, ns = remote
    origin = project(tmp_path / "origin", names=("b",))
    runner = clone(origin, tmp_path / "r")
    run = make(runner, runner / "cache", env_for(harness, ns), recipes=("recipes/b",))
    assert run.code == 0 and run.recipe("b")["status"] == "built", run
    assert names(harness, ns, "lease") == set() and names(harness, ns, "stamp") == set()


@pytest.mark.parametrize("remote", ["http"], indirect=True)  # signatures are backend-blind
def test_an_unsigned_stamp_record_is_refused_like_any_entry(remote, tmp_path):
    """A forged stamp record could point a recipe at another (genuine, signed) recipe entry: readers
    with a team key refuse it, say so, and take the full path."""
    harness, ns = remote
    origin = project(tmp_path / "origin", names=("a", "b"))
    ci = clone(origin, tmp_path / "ci")
    built, _ = make_spied(ci, env_for(harness, ns), "recipes/", "--remote-write")
    a, b = built.report["recipes"]
    [name] = [n for n in names(harness, ns, "stamp") if json.loads(harness.read(ns, n))["recipe_key"] == b["key"]]
    forged = json.loads(harness.read(ns, name))
    forged.pop("signature")
    forged["recipe_key"] = a["key"]  # b's stamp now says: use a's engines
    harness.write(ns, name, json.dumps(forged).encode())
    fresh = clone(origin, tmp_path / "fresh")
    run, _ = make_spied(fresh, env_for(harness, ns), "recipes/b.toml")
    [report] = run.report["recipes"]
    assert report["key"] == b["key"] and not report["fast_path"], report
    assert any(f"{name} rejected: it is unsigned" in w for w in run.warnings), run
