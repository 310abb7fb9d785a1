"""The local cache in front of a remote one: local first, then remote; remote hits verified, kept locally.

Trust: nothing from the remote is used before it is checked. A blob must hash to its name; a
metadata entry must parse, name its own key, carry a valid signature when a key is configured, and
every blob it names must arrive intact before the entry is stored locally (so the local cache never
holds metadata pointing at nothing). A rejected entry is a miss with one warning naming it.

Faults (unreachable, timeouts, 5xx, truncated or unreadable bodies) are not the build's problem:
the first one prints one warning and turns the remote off for the rest of the run.
"""

from __future__ import annotations

import json
import re
from typing import Any, Callable, Iterator

from .digest import canonical_json, digest_bytes
from .local import SHARED_KINDS, LocalStore
from .remote import RemoteBackend, RemoteError
from .signing import SignatureError, check_entry, sign_entry

DIGEST_RE = re.compile(r"^[0-9a-f]{64}$")
# Only these metadata kinds are shared. Others (file-hash memos, locks) describe this machine:
# they stay local, never uploaded and never looked up remotely.
META_KINDS = tuple(kind for kind in SHARED_KINDS if kind != "blob")


def blob_refs(kind: str, doc: dict[str, Any]) -> list[str]:
    """The blob digests a metadata entry points at; ValueError if it does not name them properly."""
    if kind == "segment":
        refs = [doc.get("blob")]
    elif kind == "recipe":
        files = doc.get("files")
        refs = list(files.values()) if isinstance(files, dict) else [None]
    elif kind in ("stamp", "latest"):  # they point at a recipe entry, fetched (and checked) on its own
        if not (isinstance(doc.get("recipe_key"), str) and DIGEST_RE.match(doc["recipe_key"])):
            raise ValueError("it does not name its recipe key by SHA-256")
        return []
    else:
        return []  # local bookkeeping kinds name no blobs
    if not all(isinstance(r, str) and DIGEST_RE.match(r) for r in refs):
        raise ValueError("it does not name its blobs by SHA-256")
    return refs


class UnreadableEntry(ValueError):
    """The bytes are not a JSON object at all (as opposed to a well-formed entry that is wrong)."""


def parse_entry(kind: str, key: str, body: bytes | str) -> dict[str, Any]:
    """A metadata entry from its stored bytes; ValueError if it is not one (or not this one)."""
    try:
        doc = json.loads(body)
    except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError
        raise UnreadableEntry(f"it is not JSON ({exc})") from None
    if not isinstance(doc, dict):
        raise UnreadableEntry("it is not a JSON object")
    if doc.get("key") != key:
        raise ValueError("it does not name its own key")
    blob_refs(kind, doc)
    return doc


class LayeredStore:
    """Same interface as LocalStore for make and the pipeline; CLI bookkeeping goes to the local store."""

    def __init__(self, local: LocalStore, remote: RemoteBackend, *, write: bool = False, signer: Any = None,
                 verifier: Any = None, warn: Callable[[str], None] | None = None):
        self.local, self.remote, self.write = local, remote, write
        self.signer, self.verifier = signer, verifier
        self.warn = warn or local.warn
        self.counters = {"hits": 0, "misses": 0, "rejected": 0, "errors": 0, "uploads": 0}
        self.disabled = False
        self._rejected: set[str] = set()

    # -- the pipeline's interface -----------------------------------------------------------
    def get_blob(self, digest: str) -> bytes | None:
        data = self.local.get_blob(digest)
        return data if data is not None else self._fetch_blob(digest)

    def put_blob(self, data: bytes, digest: str | None = None) -> str:
        digest = self.local.put_blob(data, digest)
        if self.write:
            self._upload(f"blob/{digest}", bytes(data), skip_existing=True)
        return digest

    def get_meta(self, kind: str, key: str) -> dict[str, Any] | None:
        doc = self.local.get_meta(kind, key)
        if doc is not None or kind not in META_KINDS:
            return doc
        return self._fetch_meta(kind, key)

    def put_meta(self, kind: str, key: str, doc: dict[str, Any]) -> None:
        if kind not in META_KINDS:
            return self.local.put_meta(kind, key, doc)
        name = f"{kind}/{key}"
        if self.signer is not None:
            doc = sign_entry(self.signer, name, doc)
        self.local.put_meta(kind, key, doc)
        if self.write:
            self._upload(name, canonical_json(doc).encode())

    def has_entry(self, kind: str, key: str) -> bool:
        """Whether a verified entry exists, locally or remotely, without downloading its blobs."""
        if self.local.has_entry(kind, key):
            return True
        return kind in META_KINDS and self._fetch_meta(kind, key, with_blobs=False) is not None

    def build_lease(self, key: str, on_wait: Callable[[str], None] | None = None):
        """A lease in the remote while this writer builds `key` (lease.py); None for read-only clients."""
        if not self.write or self.disabled:
            return None
        from .lease import RemoteLease

        return RemoteLease(self.remote, key, on_wait=on_wait or (lambda message: None), on_fault=self._fault,
                           warn=self.warn)

    def close(self) -> None:
        self.local.close()

    # -- delegated to the local store (cache commands) --------------------------------------
    @property
    def directory(self):
        return self.local.directory

    def names(self, kind: str | None = None) -> Iterator[str]:
        return self.local.names(kind)

    def raw(self, name: str) -> Any:
        return self.local.raw(name)

    def delete(self, name: str) -> None:
        self.local.delete(name)

    def volume(self) -> int:
        return self.local.volume()

    def stats(self) -> tuple[int, int]:
        return self.local.stats()

    def build_lock(self, key: str, on_wait: Callable[[str], None] | None = None):
        return self.local.build_lock(key, on_wait)  # builds on this machine coordinate through its cache

    # -- moving whole caches ----------------------------------------------------------------
    def push_all(self) -> int:
        """Upload every local entry (blobs before the metadata naming them); the number uploaded."""
        before = self.counters["uploads"]
        for name in [n for kind in SHARED_KINDS for n in self.local.names(kind)]:
            if self.disabled:
                break
            kind, _, key = name.partition("/")
            if kind == "blob":
                data = self.local.get_blob(key)
                if data is not None:
                    self._upload(name, data, skip_existing=True)
                continue
            doc = self.local.get_meta(kind, key)
            if doc is not None:
                self._upload(name, canonical_json(self._signed(name, doc)).encode())
        return self.counters["uploads"] - before

    def _signed(self, name: str, doc: dict[str, Any]) -> dict[str, Any]:
        return sign_entry(self.signer, name, doc) if self.signer is not None else doc

    # -- remote reads -----------------------------------------------------------------------
    def _fetch_blob(self, digest: str) -> bytes | None:
        name = f"blob/{digest}"
        data = self._remote_get(name)
        if data is None:
            return None
        if digest_bytes(data) != digest:
            return self._reject(name, "its bytes do not match its SHA-256 (tampered or corrupt)")
        self.local.put_blob(data)
        self.counters["hits"] += 1
        return data

    def _fetch_meta(self, kind: str, key: str, with_blobs: bool = True) -> dict[str, Any] | None:
        name = f"{kind}/{key}"
        body = self._remote_get(name)
        if body is None:
            return None
        try:
            doc = parse_entry(kind, key, body)
        except UnreadableEntry as exc:
            # A server answering garbage is a fault (one warning, remote off), not one bad entry.
            return self._fault(RemoteError(f"unreadable body for {name}: {exc}"))
        except ValueError as exc:
            return self._reject(name, str(exc))
        if self.verifier is not None:
            try:
                check_entry(self.verifier, name, doc)
            except SignatureError as exc:
                return self._reject(name, str(exc))
        if not with_blobs:
            return doc  # checked, not kept: local metadata must never point at a missing blob
        # Fetch (and verify) every blob first: local metadata must never point at a missing blob.
        if any(self.get_blob(digest) is None for digest in blob_refs(kind, doc)):
            return None
        self.local.put_meta(kind, key, doc)
        self.counters["hits"] += 1
        return doc

    def _remote_get(self, name: str) -> bytes | None:
        if self.disabled or name in self._rejected:
            return None
        try:
            data = self.remote.get(name)
        except RemoteError as exc:
            return self._fault(exc)
        if data is None:
            self.counters["misses"] += 1
        return data

    # -- remote writes ----------------------------------------------------------------------
    def _upload(self, name: str, data: bytes, skip_existing: bool = False) -> None:
        if self.disabled:
            return
        try:
            if skip_existing and self.remote.exists(name):
                return  # content-addressed: same name, same bytes
            self.remote.put(name, data)
            self.counters["uploads"] += 1
        except RemoteError as exc:
            self._fault(exc)

    # -- trouble ----------------------------------------------------------------------------
    def _reject(self, name: str, why: str) -> None:
        self.counters["rejected"] += 1
        self._rejected.add(name)  # asked again in this run (recipe, then segment): no second warning
        self.warn(f"remote cache entry {name} rejected: {why}; building it locally")
        return None

    def _fault(self, exc: Exception) -> None:
        self.counters["errors"] += 1
        if not self.disabled:
            self.disabled = True
            self.warn(f"remote cache {self.remote.url} is not usable ({exc}); "
                      "using the local cache only for the rest of this run")
        return None
