"""The per-key build lock (trtbuild/cache/lock.py), and opening one cache from many processes at once.

These run without torch: many processes fit in a few seconds.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time

import pytest

from tests.conftest import ROOT
from trtbuild.cache.layered import LayeredStore
from trtbuild.cache.local import LocalStore, encode_meta
from trtbuild.cache.lock import BuildLock, lock_expiry
from trtbuild.errors import InputError


@pytest.fixture
def store(tmp_path):
    s = LocalStore(tmp_path / "cache")
    yield s
    s.close()


def holder(store: LocalStore, key: str) -> dict | None:
    body = store._cache.get(f"lock/{key}")
    return json.loads(body) if body is not None else None


def plant_lock(store: LocalStore, key: str, pid: int, host: str, expire: float | None = None) -> None:
    """A lock entry as another process would have left it."""
    body, tag = encode_meta({"key": key, "pid": pid, "host": host, "time": time.time()})
    store._cache.set(f"lock/{key}", body, expire=expire, tag=tag)


def dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_a_waiter_gets_the_lock_when_the_holder_releases_it(store):
    waited, order = [], []
    with store.build_lock("k"):
        assert holder(store, "k")["pid"] == os.getpid()

        def second() -> None:
            with store.build_lock("k", on_wait=waited.append):
                order.append("second")

        thread = threading.Thread(target=second)
        thread.start()
        time.sleep(0.5)
        order.append("first done")
    thread.join(10)
    assert order == ["first done", "second"]
    assert waited == [f"pid {os.getpid()} on {socket.gethostname()}"]
    assert holder(store, "k") is None  # released


def test_a_dead_holder_on_this_host_is_taken_over_at_once(store):
    plant_lock(store, "k", dead_pid(), socket.gethostname(), expire=5)  # expiry: a bound if this fails
    start = time.monotonic()
    with store.build_lock("k"):
        assert holder(store, "k")["pid"] == os.getpid()
    assert time.monotonic() - start < 1


def test_a_killed_but_unreaped_holder_counts_as_dead(store):
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    proc.kill()
    time.sleep(0.2)  # now a zombie: kill(pid, 0) still succeeds
    try:
        plant_lock(store, "k", proc.pid, socket.gethostname(), expire=5)
        start = time.monotonic()
        with store.build_lock("k"):
            assert holder(store, "k")["pid"] == os.getpid()
        assert time.monotonic() - start < 1
    finally:
        proc.wait()


def test_a_live_holder_on_another_host_is_waited_for_until_the_lock_expires(store):
    plant_lock(store, "k", 1, "build-server-7", expire=0.5)
    waited = []
    start = time.monotonic()
    with store.build_lock("k", on_wait=waited.append):
        assert time.monotonic() - start >= 0.4
    assert waited == ["pid 1 on build-server-7"]


def test_an_unreadable_lock_is_taken_over(store):
    store._cache.set("lock/k", b"\x00 not json")
    with store.build_lock("k"):
        assert holder(store, "k")["pid"] == os.getpid()


def test_release_never_deletes_a_successors_lock(store):
    first = BuildLock(store._cache, "k", expire=0.3)
    first.__enter__()
    time.sleep(0.5)  # first outlived its expiry (a hung build): the lock is free
    with store.build_lock("k"):
        first.__exit__(None, None, None)
        assert holder(store, "k")["pid"] == os.getpid() and "lock/k" in set(store.names())


def test_only_a_dead_holders_lock_is_forgotten(store):
    plant_lock(store, "dead", dead_pid(), socket.gethostname())
    plant_lock(store, "remote", 1, "build-server-7")
    with store.build_lock("mine"):
        for key in ("dead", "remote", "mine"):
            store.build_lock(key).forget_if_abandoned()
        assert holder(store, "dead") is None
        assert holder(store, "remote")["host"] == "build-server-7"  # alive as far as we can tell
        assert holder(store, "mine")["pid"] == os.getpid()


def test_lock_entries_are_valid_metadata(store):
    """`cache verify` reads lock entries like any other: a held lock is not a problem."""
    with store.build_lock("k"):
        assert store.inspect("lock/k") == (holder(store, "k"), None)


def test_expiry_comes_from_the_environment():
    assert lock_expiry({}) == 15 * 60
    assert lock_expiry({"TRTBUILD_LOCK_EXPIRE": "30"}) == 30
    for bad in ("soon", "0", "-5", "nan"):
        with pytest.raises(InputError, match=f"TRTBUILD_LOCK_EXPIRE must be a positive number of seconds, not '{bad}'"):
            lock_expiry({"TRTBUILD_LOCK_EXPIRE": bad})


def test_the_layered_store_locks_in_its_local_cache(store):
    layered = LayeredStore(store, remote=None)
    with layered.build_lock("k"):
        assert holder(store, "k")["pid"] == os.getpid()


# -- many processes ---------------------------------------------------------------------------

# Each process "builds" every key that is not in the cache yet, the way make does: look, lock, look
# again, build (slowly), store. Every build is logged; the log must name each key once.
BUILDER = """
import os, sys, time
sys.path.insert(0, sys.argv[1])
from trtbuild.cache.local import LocalStore
cache, log, start, keys = sys.argv[2], sys.argv[3], float(sys.argv[4]), sys.argv[5:]
while time.time() < start:
    pass
store = LocalStore(cache)
for key in keys:
    if store.get_meta("recipe", key) is None:
        with store.build_lock(key):
            if store.get_meta("recipe", key) is None:
                with open(log, "a") as f:
                    f.write(key + "\\n")
                time.sleep(0.3)
                store.put_meta("recipe", key, {"key": key, "builder": os.getpid()})
store.close()
"""


def test_eight_processes_build_each_key_once(tmp_path):
    cache, log = tmp_path / "cache", tmp_path / "builds.log"
    keys = ["k1", "k2", "k3"]
    seed = LocalStore(cache)
    plant_lock(seed, "k2", dead_pid(), socket.gethostname())  # a crashed make left this one behind
    seed.close()
    start = time.time() + 1.5
    procs = [subprocess.Popen([sys.executable, "-c", BUILDER, str(ROOT), str(cache), str(log), str(start),
                               *(keys if i % 2 else keys[::-1])], stderr=subprocess.PIPE, text=True)
             for i in range(8)]
    errors = [p.communicate(timeout=120)[1] for p in procs]
    assert [p.returncode for p in procs] == [0] * 8, errors
    assert sorted(log.read_text().split()) == keys


# Open a fresh cache from many forked processes released at the same instant, several times over.
OPENER = """
import collections, json, multiprocessing, sys, tempfile, time
sys.path.insert(0, sys.argv[1])
from trtbuild.cache.local import LocalStore

def open_and_write(args):
    directory, start = args
    while time.time() < start:
        pass
    try:
        store = LocalStore(directory)
        store.put_meta("stamp", "k", {"key": "k"})
        store.close()
        return "ok"
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"

outcomes = collections.Counter()
for round in range(int(sys.argv[3])):
    directory = tempfile.mkdtemp(dir=sys.argv[2]) + "/cache"
    with multiprocessing.get_context("fork").Pool(int(sys.argv[4])) as pool:
        outcomes.update(pool.map(open_and_write, [(directory, time.time() + 0.3)] * int(sys.argv[4])))
print(json.dumps(outcomes))
"""


def test_many_processes_opening_one_new_cache_never_fail(tmp_path):
    rounds, processes = 5, 24
    proc = subprocess.run([sys.executable, "-c", OPENER, str(ROOT), str(tmp_path), str(rounds), str(processes)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == {"ok": rounds * processes}
