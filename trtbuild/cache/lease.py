"""Build leases in the remote cache, so that runners sharing it build each engine once.

The build lock (lock.py) covers the makes sharing one local cache. Runners with separate caches meet
only in the remote: before building a key that is in neither cache, a writer claims a lease there.

A lease is a sequence of claims `lease/<key>/1`, `lease/<key>/2`, ... Claiming generation g is the
remote's one atomic primitive (S3: a conditional PUT; WebDAV: MKCOL): of all runners trying g, one
wins. The current generation is the last claim present. Its body names the holder:
  {"key", "generation", "holder", "host", "pid", "ttl", "released"}
and the holder rewrites it every ttl/4 seconds while it builds. The lease is live while that body is
younger than its ttl, measured by the server's clock (its Date minus the body's Last-Modified), so the
runners' own clocks need not agree. A released or expired claim is free: the next runner claims g+1
(a holder killed by SIGKILL stops rewriting, and is taken over one ttl later).

A runner that finds a live lease waits for the entry to appear (polling the cache), printing who it
waits for, up to TRTBUILD_LEASE_WAIT seconds; then it builds anyway. Leases are coordination, not
trust: a forged or stuck lease can delay a build until its expiry, never change what is built or
used (entries are verified as always). Read-only clients never take leases. Remote faults end
coordination for the run (one warning) and the build goes ahead locally.
"""

from __future__ import annotations

import json
import os
import random
import socket
import threading
import time
import uuid
from typing import Any, Callable, TypeVar

from .lock import env_seconds
from .remote import LeaseUnsupported, RemoteBackend, RemoteError

DEFAULT_TTL = 120.0  # seconds without a heartbeat before a lease is free; the heartbeat runs every ttl/4
DEFAULT_WAIT = 3600.0  # longest wait for another runner's build before building it here
POLL_SECONDS = 1.0
SETTLE_SECONDS = 2.0  # best effort (no atomic claim): how long to let rival writes land before reading back
T = TypeVar("T")


def lease_ttl(environ: Any = None) -> float:
    return env_seconds("TRTBUILD_LEASE_TTL", DEFAULT_TTL, environ)


def lease_wait(environ: Any = None) -> float:
    return env_seconds("TRTBUILD_LEASE_WAIT", DEFAULT_WAIT, environ)


class RemoteLease:
    def __init__(self, remote: RemoteBackend, key: str, *, on_wait: Callable[[str], None],
                 on_fault: Callable[[Exception], None], warn: Callable[[str], None]):
        self.remote, self.key = remote, key
        self.ttl, self.wait = lease_ttl(), lease_wait()
        self.on_wait, self.on_fault, self.warn = on_wait, on_fault, warn
        self.holder = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.generation = 0  # the claim we hold, 0 when none
        self._latest = 1  # where the next probe starts: claims only ever grow
        self._stop = threading.Event()
        self._heartbeat: threading.Thread | None = None
        self._watch: dict[int, tuple[bytes, float]] = {}  # generation -> (body seen, when first seen)

    def name(self, generation: int) -> str:
        return f"lease/{self.key}/{generation}"

    # -- acquiring ---------------------------------------------------------------------------
    def acquire(self, poll: Callable[[], T | None]) -> T | None:
        """None once we hold the lease (build it), or what `poll` found while another runner built it."""
        deadline = time.monotonic() + self.wait
        told = 0.0
        try:
            while True:
                generation, claim = self._current()
                found = poll()  # also after a release: the holder stores the entry before it lets go
                if found is not None:
                    return found
                if claim is None or self._free(generation, claim):
                    if self._claim(generation + 1):
                        return None
                    time.sleep(0.05 + 0.2 * random.random())  # a rival won this generation: look again
                    continue
                if time.monotonic() > deadline:
                    self.warn(f"waited {self.wait:.0f} s for {claim.get('holder', 'another runner')} to build "
                              f"{self.key[:12]}; building it here")
                    return None
                if time.monotonic() - told > 30:
                    self.on_wait(f"waiting for {claim.get('holder', 'another runner')}, which holds the build "
                                 f"lease (generation {generation})")
                    told = time.monotonic()
                time.sleep(POLL_SECONDS * (0.5 + random.random()))
        except LeaseUnsupported as exc:
            self.warn(f"{exc}; building without a lease (runners may build the same engine twice)")
        except RemoteError as exc:
            self.on_fault(exc)
        return None

    def _current(self) -> tuple[int, dict[str, Any] | None]:
        """(latest generation, its claim) by probing 1, 2, ... from the last one we saw; (0, None) when unclaimed."""
        generation, claim = self._latest, None
        while True:
            found = self.remote.read_claim(self.name(generation))
            if found is None:
                self._latest = max(1, generation - 1)
                return generation - 1, claim
            claim = self._parse(generation, *found)
            generation += 1

    def _parse(self, generation: int, body: bytes, age: float | None) -> dict[str, Any]:
        try:
            doc = json.loads(body) if body else {}
        except ValueError:
            doc = {"garbage": True}  # free: a torn or foreign body must not stall builds
        if not isinstance(doc, dict):
            doc = {"garbage": True}
        doc.setdefault("ttl", self.ttl)
        doc["_age"] = age if age is not None else self._observed_age(generation, body)
        return doc

    def _observed_age(self, generation: int, body: bytes) -> float:
        """Without the server's clock, a claim's age is how long we have seen its body unchanged."""
        seen = self._watch.get(generation)
        if seen is None or seen[0] != body:
            self._watch[generation] = (body, time.monotonic())
            return 0.0
        return time.monotonic() - seen[1]

    @staticmethod
    def _free(generation: int, claim: dict[str, Any]) -> bool:
        try:
            ttl = float(claim["ttl"])
        except (TypeError, ValueError):
            ttl = DEFAULT_TTL
        return generation == 0 or bool(claim.get("released") or claim.get("garbage")) or claim["_age"] > ttl

    def _claim(self, generation: int) -> bool:
        body = self._body(generation)
        try:
            won = self.remote.claim(self.name(generation), body)
        except LeaseUnsupported:
            won = self._claim_best_effort(generation, body)
        if won:
            self.generation = generation
            self._heartbeat = threading.Thread(target=self._beat, name=f"lease-{self.key[:8]}", daemon=True)
            self._heartbeat.start()
        return won

    def _claim_best_effort(self, generation: int, body: bytes) -> bool:
        """No atomic create: write, let rival writes land, read back. Two runners can still both win
        when one writes more than SETTLE_SECONDS after the other read an empty slot."""
        if not getattr(self, "_told_best_effort", False):
            self.warn(f"{self.remote.url} cannot create entries exclusively; build leases are best effort")
            self._told_best_effort = True
        self.remote.update_claim(self.name(generation), body)
        time.sleep(SETTLE_SECONDS)
        found = self.remote.read_claim(self.name(generation))
        return found is not None and found[0] == body

    def _body(self, generation: int, released: bool = False) -> bytes:
        host, pid, _ = self.holder.split(":")
        return json.dumps({"key": self.key, "generation": generation, "holder": self.holder, "host": host,
                           "pid": int(pid), "ttl": self.ttl, "released": released,
                           "beat": time.time()}, sort_keys=True).encode()

    # -- holding -----------------------------------------------------------------------------
    def _beat(self) -> None:
        while not self._stop.wait(self.ttl / 4):
            try:
                self.remote.update_claim(self.name(self.generation), self._body(self.generation))
            except RemoteError:
                return  # the lease may lapse and another runner build too: wasteful, never wrong

    def release(self) -> None:
        if not self.generation:
            return
        self._stop.set()
        if self._heartbeat is not None:
            self._heartbeat.join()
        try:
            self.remote.update_claim(self.name(self.generation), self._body(self.generation, released=True))
        except RemoteError:
            pass  # it expires on its own
        self.generation = 0
