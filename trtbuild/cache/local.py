"""The local engine cache: diskcache on local disk, bytes and JSON only, digests checked on read.

Entries:
  blob/<sha256>     raw bytes (engines, fallback graphs); the key is the SHA-256 of the bytes
  segment/<key>     JSON: the engine blob's digest, I/O specs, the key document
  recipe/<key>      JSON: the assembly manifest and the digests of every blob it needs
Blobs are written before the metadata that points at them, so a crash leaves at worst an orphan
blob, never metadata pointing at nothing. Values are never pickled: `SafeDisk` refuses to read or
write anything but bytes and text.
"""

from __future__ import annotations

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
KINDS = ("blob", "segment", "recipe")


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


class CorruptEntry(Exception):
    pass


class LocalStore:
    def __init__(self, directory: str | Path, size_limit: int = DEFAULT_SIZE_LIMIT,
                 warn: Callable[[str], None] | None = None):
        self.directory = Path(directory)
        self.warn = warn or (lambda message: None)
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            self._cache = diskcache.Cache(str(self.directory), disk=SafeDisk, size_limit=size_limit,
                                          eviction_policy="least-recently-stored", timeout=60)
        except (OSError, sqlite3.Error) as exc:
            raise CacheError(f"cannot open the cache at {self.directory}: {exc}") from None

    def close(self) -> None:
        self._cache.close()

    # -- blobs ------------------------------------------------------------------------------
    def put_blob(self, data: bytes) -> str:
        digest = digest_bytes(data)
        key = f"blob/{digest}"
        if key not in self._cache:
            self._write(key, bytes(data))
        return digest

    def get_blob(self, digest: str) -> bytes | None:
        """The blob's bytes if present and intact; a corrupt blob is reported and discarded."""
        key = f"blob/{digest}"
        data = self._read(key)
        if data is None:
            return None
        if not isinstance(data, bytes) or digest_bytes(data) != digest:
            self._discard(key, "its bytes do not match its digest")
            return None
        return data

    # -- metadata ---------------------------------------------------------------------------
    def put_meta(self, kind: str, key: str, doc: dict[str, Any]) -> None:
        self._write(f"{kind}/{key}", json.dumps(doc, sort_keys=True))

    def get_meta(self, kind: str, key: str) -> dict[str, Any] | None:
        name = f"{kind}/{key}"
        text = self._read(name)
        if text is None:
            return None
        try:
            doc = json.loads(text)
            if not isinstance(doc, dict) or doc.get("key") != key:
                raise ValueError("metadata does not name this key")
        except (ValueError, TypeError) as exc:
            self._discard(name, f"its metadata is broken ({exc})")
            return None
        return doc

    def delete(self, name: str) -> None:
        self._cache.delete(name)

    # -- bookkeeping ------------------------------------------------------------------------
    def names(self, kind: str | None = None) -> Iterator[str]:
        for name in self._cache.iterkeys():
            if kind is None or name.startswith(kind + "/"):
                yield name

    def raw(self, name: str) -> Any:
        return self._read(name)

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

    def _write(self, name: str, value: bytes | str) -> None:
        try:
            self._cache.set(name, value, retry=True)
        except (OSError, sqlite3.Error) as exc:
            raise CacheError(f"cannot write to the cache at {self.directory}: {exc}") from None

    def _discard(self, name: str, why: str) -> None:
        self.warn(f"cache entry {name} is corrupt: {why}; discarding it and rebuilding")
        try:
            self._cache.delete(name, retry=True)
        except (OSError, sqlite3.Error):
            pass


def default_cache_dir(explicit: str | None = None) -> Path:
    """--cache-dir, then TRTBUILD_CACHE_DIR, then ./cache."""
    return Path(explicit or os.environ.get("TRTBUILD_CACHE_DIR") or "cache")


