"""The local engine cache: diskcache on local disk, bytes and JSON only, digests checked on read.

Entries:
  blob/<sha256>     raw bytes (engines, fallback graphs); the key is the SHA-256 of the bytes
  segment/<key>     JSON: the engine blob's digest, I/O specs, the key document
  recipe/<key>      JSON: the assembly manifest and the digests of every blob it needs
  calibration/<key> JSON: a quantized recipe's scales (every observer's state), see export/calibration.py
  stamp/<digest>    JSON: the recipe key that a recipe's declared inputs gave (see stamp.py)
  latest/<id>       JSON: a recipe file's last build: stamp, key document, build time (see stamp.py)
  lock/<key>        JSON: who is building <key> right now (see lock.py)
  filehash/<id>     JSON: a file digest memo for the stamp (this machine's files; never shared)
Metadata is stored as UTF-8 bytes (so neither sqlite nor diskcache decodes damaged text), names its
own key and carries the SHA-256 of its bytes in diskcache's tag column: a read detects any damage to
either kind of entry. A damaged entry is reported with its name, discarded and rebuilt.
Blobs are written before the metadata that points at them, so a crash leaves at worst an orphan
blob, never metadata pointing at nothing. Values are never pickled: `SafeDisk` refuses to read or
write anything but bytes and text.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3

from pathlib import Path
from typing import Any, Callable, Iterator

import diskcache
from diskcache.core import MODE_PICKLE

from ..errors import CacheError
from .digest import digest_bytes

DEFAULT_SIZE_LIMIT = 64 << 30  # 64 GiB: engines are large; prune explicitly with `cache prune`
# What remotes and cache archives share, blobs first; other kinds (lock, filehash) describe this machine.
SHARED_KINDS = ("blob", "segment", "recipe", "calibration", "stamp", "latest")


class SafeDisk(diskcache.Disk):
    """A diskcache Disk that stores only bytes/str keys and values, and never unpickles."""

    def put(self, key):
        if not isinstance(key, str):
            raise TypeError("cache keys must be str")
        return super().put(key)

    def get(self, key, raw):
        if not raw:
            raise CacheError("cache entry key is pickled: refusing to read it (cache tampered?)")
        return super().get(key, raw)

    def store(self, value, read, key=diskcache.core.UNKNOWN):
        if not isinstance(value, (bytes, str)):
            raise TypeError("cache values must be bytes or str")
        return super().store(value, read, key=key)

    def fetch(self, mode, filename, value, read):
        if mode == MODE_PICKLE:
            raise CacheError("cache entry is pickled: refusing to read it (cache tampered?)")
        return super().fetch(mode, filename, value, read)

    def _write(self, full_path, iterator, mode, encoding=None):
        try:
            return super()._write(full_path, iterator, mode, encoding)
        except BaseException:
            # diskcache leaves the half-written value file of a failed write (disk full) behind
            with contextlib.suppress(OSError):
                os.remove(full_path)
            raise


def encode_meta(doc: dict[str, Any]) -> tuple[bytes, str]:
    """A metadata document as stored: its JSON as bytes, and their SHA-256 (kept as the entry's tag)."""
    body = json.dumps(doc, sort_keys=True).encode()
    return body, digest_bytes(body)


class LocalStore:
    def __init__(self, directory: str | Path, size_limit: int = DEFAULT_SIZE_LIMIT,
                 warn: Callable[[str], None] | None = None):
        self.directory = Path(directory)
        self.warn = warn or (lambda message: None)
        self._intact: set[str] = set()  # blob digests this process wrote or verified
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            self._cache = diskcache.Cache(str(self.directory), disk=SafeDisk, size_limit=size_limit,
                                          eviction_policy="least-recently-stored", timeout=60)
        except (OSError, sqlite3.Error) as exc:
            raise CacheError(f"cannot open the cache at {self.directory}: {exc}") from None

    def close(self) -> None:
        self._cache.close()

    # -- blobs ------------------------------------------------------------------------------
    def put_blob(self, data: bytes, digest: str | None = None) -> str:
        """Store bytes under their SHA-256 (`digest`, when the caller already computed it)."""
        digest = digest or digest_bytes(data)
        if digest in self._intact:  # written or verified by this process: a 100 MB engine is not re-read
            return digest
        if self.get_blob(digest) is None:  # a stored copy is reused only if it is intact
            self._write(f"blob/{digest}", bytes(data))
        self._intact.add(digest)
        return digest

    def get_blob(self, digest: str) -> bytes | None:
        """The blob's bytes if present and intact; a corrupt blob is reported and discarded."""
        return self._verified(f"blob/{digest}")

    # -- metadata ---------------------------------------------------------------------------
    def put_meta(self, kind: str, key: str, doc: dict[str, Any]) -> None:
        self._write(f"{kind}/{key}", *encode_meta(doc))

    def get_meta(self, kind: str, key: str) -> dict[str, Any] | None:
        """The entry's document if present and intact; a corrupt entry is reported and discarded."""
        return self._verified(f"{kind}/{key}")

    def build_lock(self, key: str, on_wait: Callable[[str], None] | None = None):
        """A context manager holding the build lock of `key` (see lock.py)."""
        from .lock import BuildLock  # lock.py writes entries in this module's format

        return BuildLock(self._cache, key, on_wait=on_wait)

    def build_lease(self, key: str, on_wait: Callable[[str], None] | None = None) -> None:
        """No remote, no lease: the build lock covers every make sharing this cache."""
        return None

    def has_entry(self, kind: str, key: str) -> bool:
        return self.get_meta(kind, key) is not None

    def delete(self, name: str) -> None:
        self._cache.delete(name)

    # -- bookkeeping ------------------------------------------------------------------------
    def names(self, kind: str | None = None) -> Iterator[str]:
        for name in self._cache.iterkeys():
            if kind is None or name.startswith(kind + "/"):
                yield name

    def raw(self, name: str) -> Any:
        return self._read(name)

    def inspect(self, name: str) -> tuple[Any, str | None]:
        """What a read finds, without discarding anything: (blob bytes or metadata document, None),
        (None, what is wrong) for a corrupt entry, or (None, None) when there is no entry."""
        kind, _, key = name.partition("/")
        try:
            value, tag = self._cache.get(name, default=None, tag=True, retry=True)
        except CacheError:
            return None, "it is stored in a form trtbuild never writes"
        except (OSError, sqlite3.Error) as exc:
            self.warn(f"cache entry {name} could not be read ({exc}); treating it as missing")
            return None, None
        if value is None:
            # diskcache answers a missing value file like a miss, but its index still lists the entry
            return None, ("its value file is missing" if name in self._cache else None)
        if kind == "blob":
            intact = isinstance(value, bytes) and digest_bytes(value) == key
            return (value, None) if intact else (None, "bytes do not match the digest")
        return _parse_meta(key, value, tag)

    def volume(self) -> int:
        return self._cache.volume()

    def stats(self) -> tuple[int, int]:
        return self._cache.stats()

    def _read(self, name: str) -> Any:
        try:
            return self._cache.get(name, default=None, retry=True)
        except CacheError:
            self._discard(name, "it is stored in a form trtbuild never writes")
        except (OSError, sqlite3.Error) as exc:
            self.warn(f"cache entry {name} could not be read ({exc}); treating it as missing")
        return None

    def _verified(self, name: str) -> Any:
        value, problem = self.inspect(name)
        if problem is not None:
            self._discard(name, problem)
        return value

    def _write(self, name: str, value: bytes | str, tag: str | None = None) -> None:
        try:
            self._cache.set(name, value, tag=tag, retry=True)
        except (OSError, sqlite3.Error) as exc:
            raise CacheError(f"cannot write to the cache at {self.directory}: {exc}") from None

    def _discard(self, name: str, why: str) -> None:
        self.warn(f"cache entry {name} is corrupt: {why}; discarding it and rebuilding")
        try:
            self._cache.delete(name, retry=True)
        except (OSError, sqlite3.Error):
            pass


def _parse_meta(key: str, body: Any, tag: Any) -> tuple[dict[str, Any] | None, str | None]:
    """(document, None) for intact metadata naming `key`; (None, what is wrong) otherwise."""
    if tag is None:
        return None, "broken metadata: it has no checksum (written by an older trtbuild?)"
    if not isinstance(body, bytes) or digest_bytes(body) != tag:
        return None, "broken metadata: its bytes do not match its checksum"
    try:
        doc = json.loads(body)
    except ValueError as exc:
        return None, f"broken metadata: it is not JSON ({exc})"
    if not isinstance(doc, dict) or doc.get("key") != key:
        return None, "broken metadata: it does not name this key"
    return doc, None


def default_cache_dir(explicit: str | None = None) -> Path:
    """--cache-dir, then TRTBUILD_CACHE_DIR, then ./cache."""
    return Path(explicit or os.environ.get("TRTBUILD_CACHE_DIR") or "cache")


