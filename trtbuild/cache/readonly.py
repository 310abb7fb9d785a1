"""The local cache, read without changing it: for a cache dir this process cannot write (a read-only
mount, a CI cache restored without write access) and for `make --check`, which must change nothing.

diskcache cannot open a database it may not write (it sets pragmas and settings on open), so this
reads diskcache's index and value files directly, in the layout `LocalStore` writes (local.py): a key
per entry, the value inline in the index or in a file beside it, the metadata's checksum in the tag.
Every read is verified as LocalStore verifies it; a corrupt entry is reported, never discarded; writes
are skipped (what a build makes is then not kept).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any, Callable, Iterator

from diskcache.core import MODE_BINARY, MODE_RAW, MODE_TEXT

from .digest import digest_bytes
from .local import _parse_meta


class ReadOnlyStore:
    def __init__(self, directory: str | Path, warn: Callable[[str], None] | None = None):
        self.directory = Path(directory)
        self.warn = warn or (lambda message: None)
        self._db = _connect(self.directory / "cache.db")
        self._reported: set[str] = set()
        if self._db is None and (self.directory / "cache.db").exists():
            self.warn(f"the cache index {self.directory / 'cache.db'} cannot be read; treating the cache as empty")

    def close(self) -> None:
        if self._db is not None:
            self._db.close()

    # -- reads, verified ----------------------------------------------------------------------
    def get_blob(self, digest: str) -> bytes | None:
        return self._verified(f"blob/{digest}")

    def get_meta(self, kind: str, key: str) -> dict[str, Any] | None:
        return self._verified(f"{kind}/{key}")

    def inspect(self, name: str) -> tuple[Any, str | None]:
        """(value, None), (None, what is wrong) or (None, None) for no entry, as LocalStore.inspect."""
        kind, _, key = name.partition("/")
        try:
            row = self._row(name)
        except sqlite3.Error as exc:
            self.warn(f"cache entry {name} could not be read ({exc}); treating it as missing")
            return None, None
        if row is None:
            return None, None
        mode, filename, value, tag = row
        if mode in (MODE_BINARY, MODE_TEXT):
            try:
                value = (self.directory / filename).read_bytes()
            except OSError:
                return None, "its value file is missing"
        elif mode != MODE_RAW:
            return None, "it is stored in a form trtbuild never writes"
        if kind == "blob":
            intact = isinstance(value, bytes) and digest_bytes(value) == key
            return (value, None) if intact else (None, "bytes do not match the digest")
        return _parse_meta(key, value, tag)

    def names(self, kind: str | None = None) -> Iterator[str]:
        if self._db is None:
            return
        for (name,) in self._db.execute("SELECT key FROM Cache WHERE raw = 1").fetchall():
            if isinstance(name, str) and (kind is None or name.startswith(kind + "/")):
                yield name

    def raw(self, name: str) -> Any:
        return self.inspect(name)[0]

    # -- writes, skipped ----------------------------------------------------------------------
    def put_blob(self, data: bytes, digest: str | None = None) -> str:
        return digest or digest_bytes(data)

    def put_meta(self, kind: str, key: str, doc: dict[str, Any]) -> None:
        return None

    def delete(self, name: str) -> None:
        return None

    def has_entry(self, kind: str, key: str) -> bool:
        return self.get_meta(kind, key) is not None

    def build_lock(self, key: str, on_wait: Callable[[str], None] | None = None) -> "_NoLock":
        return _NoLock()  # nothing is stored, so concurrent builds cannot collide in this cache

    def build_lease(self, key: str, on_wait: Callable[[str], None] | None = None) -> None:
        return None  # as LocalStore: a remote lease is LayeredStore's, and only for writers

    def _row(self, name: str) -> tuple | None:
        if self._db is None:
            return None
        return self._db.execute("SELECT mode, filename, value, tag FROM Cache WHERE key = ? AND raw = 1",
                                (name,)).fetchone()

    def _verified(self, name: str) -> Any:
        value, problem = self.inspect(name)
        if problem is not None and name not in self._reported:
            self._reported.add(name)
            self.warn(f"cache entry {name} is corrupt: {problem}; not using it (the cache is read-only here, "
                      "so it stays; `trtbuild cache verify` lists such entries)")
        return value


class _NoLock:
    def acquire(self) -> None:
        return None

    def release(self) -> None:
        return None

    def forget_if_abandoned(self) -> None:
        return None


def _connect(db: Path) -> sqlite3.Connection | None:
    """The index, opened read-only; None when there is none yet (an empty cache).

    `immutable` when even the read-only mode fails: in a directory it may not write, SQLite cannot
    create the shared-memory file a WAL database needs, and nobody can be writing there either."""
    if not db.is_file():
        return None
    for flags in ("mode=ro", "immutable=1"):
        try:
            con = sqlite3.connect(f"file:{db}?{flags}", uri=True)
            con.execute("SELECT count(*) FROM Cache").fetchone()
            return con
        except sqlite3.Error:
            continue
    return None
