"""Per-key build locks, so that N `make`s sharing one cache build each engine once.

A lock is the cache entry `lock/<key>`, a metadata entry whose JSON names its holder:
{key, pid, host, time}. It is created with diskcache's atomic `add`, which does nothing when the
entry exists, so exactly one process wins. The others poll until it is released, then look in the
cache again: the holder has usually stored what they wanted.

A holder killed mid-build never releases its lock, so a lock is also free when
  - its holder was a process on this host that no longer exists (checked on every poll), or
  - it is older than the expiry, TRTBUILD_LOCK_EXPIRE seconds (default 15 minutes): a holder on
    another host, or one whose pid was reused. diskcache's own expiry makes the entry vanish.
    A live build that outlasts the expiry may be built twice: harmless (both store sound entries),
    but set TRTBUILD_LOCK_EXPIRE above the longest build to avoid it.
A holder killed after it stored its build, before it released, leaves a lock nobody waits for: the
next make finds the build cached and never asks for the lock, so it removes the dead holder's
entry itself (`forget_if_abandoned`).
Taking over a dead holder's lock is a compare-and-swap in one cache transaction, so two waiters
that saw the same dead holder cannot both win. Release deletes the entry only while it is still
ours: a holder that outlived its expiry must not release its successor's lock.
"""

from __future__ import annotations

import json
import os
import random
import socket
import sqlite3
import time
from typing import Any, Callable

import diskcache

from ..errors import CacheError, InputError
from .local import encode_meta

DEFAULT_EXPIRE = 15 * 60.0
POLL_SECONDS = 0.1


def env_seconds(name: str, default: float, environ: Any = None) -> float:
    """A positive number of seconds from environment variable `name`; InputError (exit 2) if it is not one."""
    text = (os.environ if environ is None else environ).get(name)
    if text in (None, ""):
        return default
    try:
        seconds = float(text)
    except ValueError:
        seconds = -1.0
    if not seconds > 0:  # also rejects nan
        raise InputError(f"{name} must be a positive number of seconds, not {text!r}")
    return seconds


def lock_expiry(environ: Any = None) -> float:
    """Seconds after which a lock is free whoever holds it: TRTBUILD_LOCK_EXPIRE, else 15 minutes."""
    return env_seconds("TRTBUILD_LOCK_EXPIRE", DEFAULT_EXPIRE, environ)


def process_alive(pid: int) -> bool:
    """Whether `pid` is a running process on this host."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # it exists, owned by someone else
    return not _zombie(pid)


def _zombie(pid: int) -> bool:
    # A killed process its parent has not reaped yet still answers kill(pid, 0).
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().rpartition(")")[2].split()[0] == "Z"
    except (OSError, IndexError):
        return False


class BuildLock:
    """`with BuildLock(cache, key):` holds `lock/<key>` in a diskcache `Cache` for the block
    (or `acquire()` ... `release()`)."""

    def __init__(self, cache: diskcache.Cache, key: str, *, expire: float | None = None,
                 on_wait: Callable[[str], None] | None = None):
        self.cache, self.key, self.name = cache, key, f"lock/{key}"
        self.expire = lock_expiry() if expire is None else expire
        self.on_wait = on_wait or (lambda holder: None)
        self._body: bytes | None = None  # what we wrote: release compares against it

    def __enter__(self) -> "BuildLock":
        self.acquire()
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.release()

    def acquire(self) -> None:
        """Return once we hold the lock, waiting for its holder as long as it lives (or until expiry)."""
        try:
            self._acquire()
        except (OSError, sqlite3.Error) as exc:
            raise CacheError(f"cannot lock {self.name} in the cache at {self.cache.directory}: {exc}") from None

    def release(self) -> None:
        try:
            with self.cache.transact(retry=True):
                if self.cache.get(self.name, retry=True) == self._body:
                    self.cache.delete(self.name, retry=True)
        except (OSError, sqlite3.Error):
            pass  # we exit soon, and a dead holder's lock is taken over: never worth failing a build

    def forget_if_abandoned(self) -> None:
        """Delete the entry if its holder is dead; a live holder's lock is left alone."""
        try:
            with self.cache.transact(retry=True):
                seen = self.cache.get(self.name, retry=True)
                if seen is not None and _abandoned(seen):
                    self.cache.delete(self.name, retry=True)
        except (OSError, sqlite3.Error):
            pass  # a stale lock is taken over by the next builder anyway

    def _acquire(self) -> None:
        told = False
        while True:
            body, tag = self._holder_entry()
            if self.cache.add(self.name, body, expire=self.expire, tag=tag, retry=True):
                self._body = body
                return
            seen = self.cache.get(self.name, retry=True)
            if seen is None:
                continue  # released (or expired) since our add: try again at once
            if _abandoned(seen):
                if self._take_over(seen, body, tag):
                    self._body = body
                    return
                continue
            if not told:
                holder = _holder(seen)
                self.on_wait(f"pid {holder['pid']} on {holder['host']}")
                told = True
            time.sleep(POLL_SECONDS * (1 + random.random()))  # jitter: waiters do not poll in step

    def _holder_entry(self) -> tuple[bytes, str]:
        return encode_meta({"key": self.key, "pid": os.getpid(), "host": socket.gethostname(),
                            "time": time.time()})

    def _take_over(self, seen: bytes, body: bytes, tag: str) -> bool:
        with self.cache.transact(retry=True):
            if self.cache.get(self.name, retry=True) != seen:
                return False  # another waiter moved first
            self.cache.set(self.name, body, expire=self.expire, tag=tag, retry=True)
        return True


def _abandoned(body: Any) -> bool:
    """Whether a lock entry's holder is gone: unreadable, or a process on this host that has exited."""
    holder = _holder(body)
    return holder is None or (holder["host"] == socket.gethostname() and not process_alive(holder["pid"]))


def _holder(body: Any) -> dict[str, Any] | None:
    """{pid, host} of a lock entry's holder; None when the entry is unreadable (then nobody holds it)."""
    try:
        doc = json.loads(body)
        return {"pid": int(doc["pid"]), "host": str(doc["host"])}
    except (TypeError, ValueError, KeyError):
        return None
