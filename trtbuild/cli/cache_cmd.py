"""`trtbuild cache ...`: inspect, check, prune and move the engine cache (push/pull, export/import).

Exit codes: 0 ok, 1 something failed (a remote fault, a missing or rejected entry, a corrupt cache),
2 bad input (options, configuration, recipes).
"""

from __future__ import annotations

import io
import re
import sqlite3
import tarfile
import time
from pathlib import Path
from typing import Any

import click

from ..cache.local import SHARED_KINDS as KINDS
from ..errors import InputError
from .options import CacheOptions, cache_options
from .output import emit_json, human_bytes, out, warn

UNITS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}
AGES = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


# -- shared helpers ---------------------------------------------------------------------------

def _config() -> dict:
    from ..cache.stores import read_cache_config

    return read_cache_config(Path.cwd())


def _local(cache: CacheOptions):
    from ..cache.local import LocalStore, default_cache_dir

    return LocalStore(default_cache_dir(cache.cache_dir), warn=warn)


def _layered(cache: CacheOptions):
    from ..cache.layered import LayeredStore

    store = cache.open()
    if not isinstance(store, LayeredStore):
        store.close()
        raise InputError("no remote cache configured: pass --remote-cache URL, set TRTBUILD_REMOTE_CACHE "
                         "or set `remote` in the cache table of trtbuild.toml")
    return store


def inventory(directory: Path) -> list[dict[str, Any]]:
    """Every entry's name, kind, size in bytes and store time, read from diskcache's index (read-only).

    diskcache keeps small values inline (size column 0) and large ones in files (size column set).
    """
    db = Path(directory) / "cache.db"
    if not db.exists():
        return []
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        rows = con.execute("SELECT key, CASE WHEN filename IS NULL THEN length(CAST(value AS BLOB)) "
                           "ELSE size END, store_time FROM Cache ORDER BY store_time").fetchall()
    finally:
        con.close()
    return [{"name": k, "kind": k.partition("/")[0], "bytes": int(n or 0), "stored": t}
            for k, n, t in rows if isinstance(k, str)]


def parse_size(text: str) -> int:
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([kmgt]?)i?b?\s*", text.lower())
    if not match:
        raise click.BadParameter(f"{text!r} is not a size like 500M or 10G")
    return int(float(match[1]) * UNITS[match[2]])


def parse_age(text: str) -> float:
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*", text.lower())
    if not match:
        raise click.BadParameter(f"{text!r} is not an age like 12h or 7d")
    return float(match[1]) * AGES[match[2]]


def _report(data: dict, as_json: bool, text: str) -> None:
    if as_json:
        emit_json(data)
    else:
        out.print(text, soft_wrap=True)


json_option = click.option("--json", "as_json", is_flag=True, help="Print one JSON document on stdout.")
local_cache = cache_options(remote=False)  # these commands look after the local cache only


@click.group("cache")
def command() -> None:
    """Inspect, check, prune and move the engine cache."""


# -- inspecting -------------------------------------------------------------------------------

@command.command("stats")
@local_cache
@json_option
def stats(cache: CacheOptions, as_json: bool) -> int:
    """Entries and bytes by kind."""
    from ..cache.local import default_cache_dir

    directory = default_cache_dir(cache.cache_dir)
    kinds = {k: {"entries": 0, "bytes": 0} for k in KINDS}
    for entry in inventory(directory):
        slot = kinds.setdefault(entry["kind"], {"entries": 0, "bytes": 0})
        slot["entries"] += 1
        slot["bytes"] += entry["bytes"]
    total = sum(k["bytes"] for k in kinds.values())
    lines = [f"{k:8} {v['entries']:6} entries {human_bytes(v['bytes']):>10}" for k, v in kinds.items()]
    _report({"cache_dir": str(directory), "kinds": kinds, "bytes": total}, as_json,
            f"cache {directory}\n" + "\n".join(lines) + f"\ntotal {human_bytes(total)}")
    return 0


@command.command("ls")
@local_cache
@json_option
@click.option("--kind", help="Only entries of this kind (blob, segment, recipe, ...).")
def ls(cache: CacheOptions, as_json: bool, kind: str | None) -> int:
    """List entries: name, kind, bytes."""
    from ..cache.local import default_cache_dir

    rows = [{k: e[k] for k in ("name", "kind", "bytes")} for e in inventory(default_cache_dir(cache.cache_dir))
            if kind is None or e["kind"] == kind]
    _report({"entries": rows}, as_json, "\n".join(f"{r['name']}  {r['kind']}  {r['bytes']}" for r in rows))
    return 0


@command.command("verify")
@local_cache
@json_option
def verify(cache: CacheOptions, as_json: bool) -> int:
    """Read every entry as `make` does (blob digests, metadata checksums and keys, value files) and check
    that every metadata entry's blobs exist. Reports problems; changes nothing."""
    store = _local(cache)
    problems, names = [], set(store.names())
    try:
        for name in sorted(names):
            problem = _entry_problem(store, name, names)
            if problem:
                problems.append({"name": name, "problem": problem})
    finally:
        store.close()
    text = "\n".join(f"{p['name']}: {p['problem']}" for p in problems) or f"{len(names)} entries ok"
    _report({"entries": len(names), "problems": problems}, as_json, text)
    return 1 if problems else 0


def _entry_problem(store, name: str, names: set[str]) -> str | None:
    from ..cache.layered import blob_refs

    value, problem = store.inspect(name)
    kind = name.partition("/")[0]
    if problem or value is None or kind == "blob":  # value None, no problem: gone since listed (or expired)
        return problem
    try:
        missing = [d for d in blob_refs(kind, value) if f"blob/{d}" not in names]
    except ValueError as exc:
        return f"broken metadata: {exc}"
    return f"missing blobs: {', '.join(missing)}" if missing else None


# -- housekeeping -----------------------------------------------------------------------------

@command.command("prune")
@local_cache
@json_option
@click.option("--max-size", help="Drop the oldest entries until the cache is at most SIZE (e.g. 500M, 10G).")
@click.option("--older-than", help="Drop entries stored longer ago than AGE (e.g. 12h, 7d).")
def prune(cache: CacheOptions, as_json: bool, max_size: str | None, older_than: str | None) -> int:
    """Drop old entries, then metadata whose blobs went with them."""
    if max_size is None and older_than is None:
        raise click.UsageError("give --max-size and/or --older-than")
    limit = parse_size(max_size) if max_size else None
    cutoff = time.time() - parse_age(older_than) if older_than else None
    store = _local(cache)
    try:
        entries = inventory(store.directory)  # oldest first
        total = sum(e["bytes"] for e in entries)
        victims = []
        for entry in entries:
            if (cutoff is not None and entry["stored"] < cutoff) or (limit is not None and total > limit):
                victims.append(entry)
                total -= entry["bytes"]
        for entry in victims:
            store.delete(entry["name"])
        dangling = _dangling(store)
    finally:
        store.close()
    freed = sum(e["bytes"] for e in victims)
    _report({"removed": len(victims) + len(dangling), "bytes_freed": freed, "bytes_left": total}, as_json,
            f"removed {len(victims) + len(dangling)} entries, freed {human_bytes(freed)}")
    return 0


def _dangling(store) -> list[str]:
    """Delete metadata that points at a blob no longer present (it could only ever miss)."""
    from ..cache.layered import blob_refs, parse_entry

    blobs = set(store.names("blob"))
    dropped = []
    for name in [n for n in store.names() if not n.startswith("blob/")]:
        kind, _, key = name.partition("/")
        try:
            refs = blob_refs(kind, parse_entry(kind, key, store.raw(name) or ""))
        except ValueError:
            refs = [""]
        if any(f"blob/{d}" not in blobs for d in refs):
            store.delete(name)
            dropped.append(name)
    return dropped


@command.command("clear")
@local_cache
@json_option
def clear(cache: CacheOptions, as_json: bool) -> int:
    """Delete every entry of the local cache."""
    store = _local(cache)
    try:
        names = list(store.names())
        for name in names:
            store.delete(name)
    finally:
        store.close()
    _report({"removed": len(names)}, as_json, f"removed {len(names)} entries")
    return 0


# -- moving caches ----------------------------------------------------------------------------

@command.command("push")
@cache_options(write=True)
@json_option
def push(cache: CacheOptions, as_json: bool) -> int:
    """Upload every local entry to the remote cache (signing metadata when a key is configured)."""
    store = _layered(cache)
    try:
        if not store.write:
            raise InputError("push writes to the remote: pass --remote-write, set TRTBUILD_REMOTE_WRITE=1 "
                             "or set remote_write = true in the cache table of trtbuild.toml")
        uploaded = store.push_all()
    finally:
        store.close()
    _report({"uploaded": uploaded, "remote": store.remote.url, **store.counters}, as_json,
            f"uploaded {uploaded} entries to {store.remote.url}")
    return 1 if store.disabled else 0


@command.command("pull")
@click.argument("recipes", nargs=-1, required=True)
@cache_options()
@json_option
def pull(recipes: tuple[str, ...], cache: CacheOptions, as_json: bool) -> int:
    """Prefetch the cached build of RECIPES (recipe entry, segments, blobs) into the local cache."""
    from ..recipe import find_recipes, load_recipe

    paths = find_recipes(list(recipes))
    loaded = [load_recipe(p) for p in paths]  # bad recipes are bad input: fail before any download
    store = _layered(cache)
    try:
        rows = [_pull_one(store, recipe) for recipe in loaded]
    finally:
        store.close()
    _report({"recipes": rows, "remote": store.remote.url, **store.counters}, as_json,
            "\n".join(f"{r['name']}: {r['status']}" for r in rows))
    return 0 if all(r["status"] in ("pulled", "local") for r in rows) else 1


def recipe_key(recipe) -> str:
    """The recipe's cache key, computed exactly as `make` does (trtbuild/make.py `_make`)."""
    from ..cache.key import key_of
    from ..make import export_recipe, key_document

    return key_of(key_document(recipe, export_recipe(recipe)[1]))


def _pull_one(store, recipe) -> dict[str, Any]:
    from ..errors import TrtbuildError

    row: dict[str, Any] = {"name": recipe.display_name, "key": None, "status": "failed"}
    try:
        row["key"] = key = recipe_key(recipe)
    except TrtbuildError as exc:
        return {**row, "error": str(exc)}
    local = store.local.get_meta("recipe", key) is not None
    entry = store.get_meta("recipe", key)
    if entry is None:
        return {**row, "status": "failed" if store.disabled else "missing"}
    segments = [s["key"] for s in entry["manifest"].get("segments", []) if s.get("kind") == "tensorrt"]
    got = [store.get_meta("segment", k) is not None for k in segments]
    row["segments"] = len(segments)
    row["status"] = "local" if local and all(got) else ("pulled" if all(got) else "partial")
    return row


@command.command("export")
@click.argument("file", type=click.Path(dir_okay=False))
@local_cache
@json_option
def export(file: str, cache: CacheOptions, as_json: bool) -> int:
    """Write every entry to FILE.tar (blobs first), for machines without network access."""
    from ..cache.stores import cache_key

    key = cache_key(_config())
    signer = key if key is not None and key.can_sign else None
    store = _local(cache)
    count = 0
    try:
        with tarfile.open(file, "w") as tar:
            for kind in KINDS:
                for name in sorted(store.names(kind)):
                    data = _export_bytes(store, name, signer)
                    if data is not None:
                        _add(tar, name, data)
                        count += 1
    finally:
        store.close()
    _report({"file": file, "entries": count}, as_json, f"exported {count} entries to {file}")
    return 0


def _export_bytes(store, name: str, signer) -> bytes | None:
    """A blob re-hashed on read, or a metadata entry (re-signed when this machine holds a signing key)."""
    from ..cache.digest import canonical_json
    from ..cache.signing import sign_entry

    kind, _, key = name.partition("/")
    if kind == "blob":
        return store.get_blob(key)  # a corrupt blob is dropped (with a warning), not exported
    doc = store.get_meta(kind, key)
    if doc is None:
        return None
    return canonical_json(sign_entry(signer, name, doc) if signer else doc).encode()


def _add(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mtime, info.mode = len(data), int(time.time()), 0o644
    tar.addfile(info, io.BytesIO(data))


@command.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@local_cache
@json_option
def import_(file: str, cache: CacheOptions, as_json: bool) -> int:
    """Read entries from FILE.tar, verifying every blob digest and (with a key configured) every signature."""
    from ..cache.stores import cache_key

    verifier = cache_key(_config())
    store = _local(cache)
    try:
        imported, rejected = _import_tar(file, store, verifier)
    finally:
        store.close()
    for name, why in rejected:
        warn(f"cache entry {name} in {file} rejected: {why}")
    _report({"file": file, "imported": imported, "rejected": [{"name": n, "problem": w} for n, w in rejected]},
            as_json, f"imported {imported} entries from {file}, rejected {len(rejected)}")
    return 1 if rejected else 0


def _import_tar(file: str, store, verifier) -> tuple[int, list[tuple[str, str]]]:
    """Blobs go in as they are read; metadata afterwards, once every blob it names is known to be here."""
    from ..cache.digest import digest_bytes
    from ..cache.remote import NAME_RE

    imported, rejected, metadata = 0, [], []
    try:
        tar = tarfile.open(file, "r")
    except (tarfile.TarError, OSError) as exc:
        raise InputError(f"{file}: not a readable tar file ({exc})") from None
    with tar:
        for member in tar:
            # Members are read into memory, never extracted: names cannot escape the cache.
            if not member.isfile() or not NAME_RE.match(member.name):
                rejected.append((member.name, "not a cache entry"))
                continue
            data = tar.extractfile(member).read()
            kind, _, key = member.name.partition("/")
            if kind != "blob":
                metadata.append((kind, key, data))
            elif digest_bytes(data) != key:
                rejected.append((member.name, "its bytes do not match its SHA-256"))
            else:
                store.put_blob(data)
                imported += 1
    for kind, key, data in metadata:
        why = _check_meta(store, kind, key, data, verifier)
        if why:
            rejected.append((f"{kind}/{key}", why))
        else:
            imported += 1
    return imported, rejected


def _check_meta(store, kind: str, key: str, data: bytes, verifier) -> str | None:
    from ..cache.layered import blob_refs, parse_entry
    from ..cache.signing import SignatureError, check_entry

    try:
        doc = parse_entry(kind, key, data)
        if verifier is not None:
            check_entry(verifier, f"{kind}/{key}", doc)
    except (ValueError, SignatureError) as exc:
        return str(exc)
    if any(store.get_blob(d) is None for d in blob_refs(kind, doc)):
        return "a blob it names is not in the archive or the cache"
    store.put_meta(kind, key, doc)
    return None
