"""Damaged cache entries: found by `cache verify`, detected on read, reported by name, discarded, rebuilt.

Every kind of damage is applied to every place an entry can live: blobs and metadata, each either in
diskcache's index (small values) or in a value file of its own (large ones).
"""

from __future__ import annotations

import os

import pytest

import trtbuild
from trtbuild.cache.local import LocalStore

from .conftest import corrupt, make_here


def blob_in_file(store: LocalStore) -> str:
    return f"blob/{store.put_blob(os.urandom(200_000))}"


def blob_inline(store: LocalStore) -> str:
    return f"blob/{store.put_blob(b'a small engine' * 20)}"


def segment(store: LocalStore, padding: int) -> str:
    digest = store.put_blob(b"its engine" * 10)
    key = digest[::-1]
    store.put_meta("segment", key, {"key": key, "blob": digest, "key_doc": {"graph": "g" * padding}})
    return f"segment/{key}"


PLACES = {
    "blob in a file": (blob_in_file, ["flipped byte", "flipped high bit", "truncated", "emptied", "missing file"]),
    "blob inline": (blob_inline, ["flipped byte", "flipped high bit", "truncated", "emptied"]),
    "metadata inline": (lambda store: segment(store, 100),
                        ["flipped byte", "flipped high bit", "truncated", "emptied"]),
    "metadata in a file": (lambda store: segment(store, 100_000),
                           ["flipped byte", "flipped high bit", "truncated", "emptied", "missing file"]),
}
CASES = [(place, how) for place, (_, hows) in PLACES.items() for how in hows]


def read(store: LocalStore, name: str):
    kind, _, key = name.partition("/")
    return store.get_blob(key) if kind == "blob" else store.get_meta(kind, key)


@pytest.mark.parametrize("place,how", CASES, ids=[f"{how} {place}" for place, how in CASES])
def test_damage_is_found_by_verify_and_discarded_on_read(tmp_path, cli, place, how):
    cache, warnings = tmp_path / "cache", []
    store = LocalStore(cache, warn=warnings.append)
    name = PLACES[place][0](store)
    store.close()
    corrupt(cache, name, how)

    found = cli("cache", "verify", "--cache-dir", str(cache), "--json")
    assert found.code == 1
    [problem] = found.json()["problems"]
    assert problem["name"] == name

    store = LocalStore(cache, warn=warnings.append)
    try:
        assert read(store, name) is None
        assert name not in set(store.names())
    finally:
        store.close()
    assert warnings == [f"cache entry {name} is corrupt: {problem['problem']}; discarding it and rebuilding"]
    assert cli("cache", "verify", "--cache-dir", str(cache)).code == 0


def test_put_blob_replaces_a_damaged_copy_instead_of_trusting_it(tmp_path):
    cache = tmp_path / "cache"
    store = LocalStore(cache)
    data = os.urandom(100_000)
    name = f"blob/{store.put_blob(data)}"
    store.close()
    corrupt(cache, name, "missing file")  # diskcache's index still lists it
    store = LocalStore(cache)  # a later run (within one run, a blob it wrote is trusted)
    assert store.put_blob(data) == name.partition("/")[2]
    assert store.get_blob(name.partition("/")[2]) == data
    store.close()


# -- end to end: make notices, says which entry, rebuilds, and the output loads ----------------

ENGINE_DAMAGE = ["flipped byte", "truncated", "missing file"]


@pytest.mark.parametrize("how", ENGINE_DAMAGE)
def test_make_rebuilds_a_damaged_engine(built, how):
    corrupt(built.cache, built.entry("blob"), how)
    warnings = []
    again = make_here(built.recipes["tiny"], built.cache, built.out, warnings)
    assert again.status == "built" and [s["cache"] for s in again.segments] == ["miss"], again.error
    assert any(w.startswith(f"cache entry {built.entry('blob')} is corrupt") for w in warnings), warnings
    trtbuild.load(built.out / "tiny")
    assert make_here(built.recipes["tiny"], built.cache, built.out).status == "cached"  # what it stored is sound


def test_make_drops_broken_recipe_metadata_and_reuses_the_intact_engine(built):
    corrupt(built.cache, built.entry("recipe"), "truncated")
    warnings = []
    again = make_here(built.recipes["tiny"], built.cache, built.out, warnings)
    assert again.status == "built" and [s["cache"] for s in again.segments] == ["hit"], again.error
    assert warnings[0].startswith(f"cache entry {built.entry('recipe')} is corrupt: broken metadata")
    trtbuild.load(built.out / "tiny")


def test_make_rebuilds_when_segment_metadata_is_broken(built):
    corrupt(built.cache, built.entry("segment"), "flipped byte")
    store = LocalStore(built.cache)
    store.delete(built.entry("recipe"))  # otherwise the recipe entry alone serves the build
    store.close()
    warnings = []
    again = make_here(built.recipes["tiny"], built.cache, built.out, warnings)
    assert again.status == "built" and [s["cache"] for s in again.segments] == ["miss"], again.error
    assert warnings[0].startswith(f"cache entry {built.entry('segment')} is corrupt: broken metadata")
    trtbuild.load(built.out / "tiny")


# -- reading without changing anything: a read-only cache dir, `make --check` --------------------

def snapshot(folder) -> dict:
    """Every file's bytes, but SQLite's coordination files, which a reader of a WAL database may create: the
    shared-memory index (-shm, where readers leave marks) and an empty write-ahead log (-wal)."""
    return {str(p.relative_to(folder)): (p.read_bytes() if p.is_file() else None) for p in sorted(folder.rglob("*"))
            if not (p.name.endswith("-shm") or (p.name.endswith("-wal") and p.stat().st_size == 0))}


@pytest.mark.parametrize("place,how", CASES, ids=[f"{how} {place}" for place, how in CASES])
def test_a_read_only_store_reports_damage_and_keeps_the_entry(tmp_path, place, how):
    from trtbuild.cache.readonly import ReadOnlyStore

    cache, warnings = tmp_path / "cache", []
    store = LocalStore(cache)
    name = PLACES[place][0](store)
    size = 200_000 if "file" in place else 100  # another entry stored the same way, left whole
    intact = f"blob/{store.put_blob(os.urandom(size))}" if "blob" in place else None
    store.close()
    corrupt(cache, name, how)
    before = snapshot(cache)
    reader = ReadOnlyStore(cache, warn=warnings.append)
    try:
        assert read(reader, name) is None
        assert intact is None or read(reader, intact) is not None
        assert name in set(reader.names())
    finally:
        reader.close()
    [warning] = warnings
    assert warning.startswith(f"cache entry {name} is corrupt: ") and "not using it" in warning
    assert snapshot(cache) == before


def test_make_check_reports_a_corrupt_entry_and_changes_nothing(built, cli, tmp_path):
    corrupt(built.cache, built.entry("recipe"), "truncated")
    before = snapshot(built.cache), snapshot(built.out)
    checked = cli("make", "--check", "--no-fast-path", str(built.recipes["tiny"]), "--cache-dir", str(built.cache),
                  "--out-dir", str(tmp_path / "elsewhere"), "--json")
    assert checked.code == 3, checked.stderr
    assert checked.json()["recipes"][0]["status"] == "would build"
    assert f"cache entry {built.entry('recipe')} is corrupt: broken metadata" in checked.stderr
    assert (snapshot(built.cache), snapshot(built.out)) == before
    assert not (tmp_path / "elsewhere").exists()
    missing = tmp_path / "no-cache-yet"
    assert cli("make", "--check", str(built.recipes["tiny"]), "--cache-dir", str(missing)).code == 3
    assert not missing.exists()
