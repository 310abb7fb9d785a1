"""The build-lease protocol (cache/lease.py) against an in-memory remote: generations, expiry by the
server's clock, release, garbage, and the best-effort path for servers without an atomic create.
The real servers (nginx MKCOL, S3 conditional PUT) are exercised by test_ci_runners.py and below."""

from __future__ import annotations

import json
import threading

import pytest

from trtbuild.cache import lease as lease_module
from trtbuild.cache.lease import RemoteLease
from trtbuild.cache.remote import LeaseUnsupported, RemoteBackend

KEY = "ab" * 32


class MemoryRemote(RemoteBackend):
    """Claims in a dict; `age` is what the server's clock says of each claim's last write."""

    url = "memory://"

    def __init__(self, atomic: bool = True):
        self.claims: dict[str, bytes] = {}
        self.age: dict[str, float] = {}
        self.atomic = atomic
        self.lock = threading.Lock()

    def claim(self, name, data):
        if not self.atomic:
            raise LeaseUnsupported("memory:// cannot create entries exclusively")
        with self.lock:
            if name in self.claims:
                return False
            self.claims[name], self.age[name] = data, 0.0
            return True

    def read_claim(self, name):
        return (self.claims[name], self.age[name]) if name in self.claims else None

    def update_claim(self, name, data):
        self.claims[name], self.age[name] = data, 0.0


def lease(remote, **kw) -> RemoteLease:
    warnings = kw.pop("warnings", [])
    return RemoteLease(remote, KEY, on_wait=lambda m: None, on_fault=lambda e: warnings.append(str(e)),
                       warn=warnings.append)


@pytest.fixture(autouse=True)
def quick(monkeypatch):
    monkeypatch.setenv("TRTBUILD_LEASE_TTL", "30")
    monkeypatch.setattr(lease_module, "POLL_SECONDS", 0.01)
    monkeypatch.setattr(lease_module, "SETTLE_SECONDS", 0.01)


def body(remote, generation):
    return json.loads(remote.claims[f"lease/{KEY}/{generation}"])


def test_first_claim_is_generation_one_and_release_frees_it():
    remote = MemoryRemote()
    first = lease(remote)
    assert first.acquire(lambda: None) is None and first.generation == 1
    assert body(remote, 1)["holder"] == first.holder and not body(remote, 1)["released"]
    first.release()
    assert body(remote, 1)["released"]
    second = lease(remote)
    assert second.acquire(lambda: None) is None and second.generation == 2  # next generation, not a rewrite
    second.release()


def test_a_live_lease_makes_others_wait_for_the_entry():
    remote = MemoryRemote()
    holder = lease(remote)
    holder.acquire(lambda: None)
    polls = []

    def poll():
        polls.append(1)
        return "the entry" if len(polls) == 3 else None

    assert lease(remote).acquire(poll) == "the entry"  # found while waiting: no claim, no build
    assert f"lease/{KEY}/2" not in remote.claims
    holder.release()


def test_an_expired_lease_is_taken_over_by_the_next_generation():
    remote = MemoryRemote()
    dead = lease(remote)
    dead.acquire(lambda: None)
    dead._stop.set()  # a SIGKILLed holder: no more heartbeats, no release
    remote.age[f"lease/{KEY}/1"] = 31.0  # the server says: last written 31 s ago (ttl 30)
    taker = lease(remote)
    assert taker.acquire(lambda: None) is None and taker.generation == 2
    taker.release()


def test_the_ttl_is_the_holders_and_the_age_the_servers():
    remote = MemoryRemote()
    holder = lease(remote)
    holder.acquire(lambda: None)
    holder._stop.set()
    claim = json.loads(remote.claims[f"lease/{KEY}/1"])
    remote.claims[f"lease/{KEY}/1"] = json.dumps(dict(claim, ttl=100)).encode()
    remote.age[f"lease/{KEY}/1"] = 31.0  # past our ttl (30), not the holder's (100): still live
    found = lease(remote).acquire(lambda: "entry")
    assert found == "entry" and f"lease/{KEY}/2" not in remote.claims


def test_a_garbage_claim_does_not_stall_builds():
    remote = MemoryRemote()
    remote.claims[f"lease/{KEY}/1"], remote.age[f"lease/{KEY}/1"] = b"\x00not json", 0.0
    taker = lease(remote)
    assert taker.acquire(lambda: None) is None and taker.generation == 2
    taker.release()


def test_only_one_of_many_racing_claimants_wins_each_generation():
    remote = MemoryRemote()
    leases = [lease(remote) for _ in range(8)]
    results, barrier = [], threading.Barrier(8)

    def race(one):
        barrier.wait()
        results.append(one._claim(1))

    threads = [threading.Thread(target=race, args=(one,)) for one in leases]
    [t.start() for t in threads]
    [t.join() for t in threads]
    assert sorted(results) == [False] * 7 + [True]
    [one.release() for one in leases]


def test_without_an_atomic_create_leases_are_best_effort_with_one_warning():
    remote = MemoryRemote(atomic=False)
    warnings = []
    one = lease(remote, warnings=warnings)
    assert one.acquire(lambda: None) is None and one.generation == 1  # written, read back, ours
    one.release()
    assert len(warnings) == 1 and "best effort" in warnings[0]


def test_a_remote_fault_ends_coordination_and_the_build_goes_ahead():
    from trtbuild.cache.remote import RemoteError

    class Down(MemoryRemote):
        def read_claim(self, name):
            raise RemoteError("connection refused")

    warnings = []
    assert lease(Down(), warnings=warnings).acquire(lambda: None) is None
    assert warnings == ["connection refused"]


def test_bad_lease_settings_are_input_errors(monkeypatch):
    from trtbuild.errors import InputError

    monkeypatch.setenv("TRTBUILD_LEASE_TTL", "-1")
    with pytest.raises(InputError, match="TRTBUILD_LEASE_TTL must be a positive number"):
        lease(MemoryRemote())


@pytest.mark.parametrize("kind", ["http", "s3"])
def test_real_servers_create_claims_atomically(kind, request, monkeypatch):
    """nginx MKCOL and S3 If-None-Match: the second claim of a generation loses; a body round-trips
    with the server's age."""
    from tests.cache.conftest import AWS, FAST
    from trtbuild.cache.remote import open_remote

    for name, value in {**AWS, **FAST}.items():
        monkeypatch.setenv(name, value)
    if kind == "http":
        url = request.getfixturevalue("nginx").url("lease-atomic")
        remote = open_remote(url)
    else:
        moto = request.getfixturevalue("moto")
        remote = open_remote("s3://team-cache/lease-atomic", s3_endpoint=moto.endpoint)
    name = f"lease/{KEY}/1"
    assert remote.read_claim(name) is None
    assert remote.claim(name, b'{"holder": "a"}') is True
    assert remote.claim(name, b'{"holder": "b"}') is False
    data, age = remote.read_claim(name)
    assert data == b'{"holder": "a"}' and age is not None and 0 <= age < 60
