import sqlite3

import pytest

from trtbuild.cache.digest import digest_bytes
from trtbuild.cache.local import LocalStore
from trtbuild.errors import CacheError


@pytest.fixture
def store(tmp_path):
    warnings = []
    s = LocalStore(tmp_path / "c", warn=warnings.append)
    s.warnings = warnings
    yield s
    s.close()


def test_blob_round_trip_is_content_addressed(store):
    digest = store.put_blob(b"engine bytes")
    assert digest == digest_bytes(b"engine bytes") and store.get_blob(digest) == b"engine bytes"


def test_meta_must_name_its_key(store):
    store.put_meta("segment", "k1", {"key": "k1", "blob": "x"})
    assert store.get_meta("segment", "k1")["blob"] == "x"
    store._cache.set("segment/k2", '{"key": "k1"}')
    assert store.get_meta("segment", "k2") is None
    assert "segment/k2 is corrupt" in store.warnings[-1]


def test_flipped_blob_byte_is_detected_and_discarded(store):
    data = bytes(range(256)) * 4096  # large enough that diskcache keeps it in a file
    digest = store.put_blob(data)
    [path] = [p for p in store.directory.rglob("*.val")]
    raw = bytearray(path.read_bytes())
    raw[100] ^= 1
    path.write_bytes(bytes(raw))
    assert store.get_blob(digest) is None
    assert f"blob/{digest}" in store.warnings[-1] and f"blob/{digest}" not in list(store.names())


def test_blob_file_is_offered_only_for_blobs_this_process_wrote_or_verified(tmp_path, store):
    data = bytes(range(256)) * 4096  # kept in a file of its own
    digest = store.put_blob(data)
    path = store.blob_file(digest)
    assert path is not None and path.read_bytes() == data
    assert store.blob_file(store.put_blob(b"small")) is None  # kept inside sqlite: nothing to link
    other = LocalStore(store.directory)
    try:
        assert other.blob_file(digest) is None  # not verified by this reader yet
        assert other.get_blob(digest) == data and other.blob_file(digest) == path
    finally:
        other.close()


def test_pickled_entries_are_never_read(store, tmp_path):
    store.put_blob(b"x")
    with sqlite3.connect(store.directory / "cache.db") as db:
        db.execute("UPDATE Cache SET mode = 4")  # what a tampered cache could say: "unpickle me"
    assert store.get_blob(digest_bytes(b"x")) is None
    assert "never writes" in store.warnings[-1]


def test_only_bytes_and_text_are_stored(store):
    with pytest.raises(TypeError):
        store._cache.set("blob/x", {"a": 1})


def test_unwritable_cache_dir_is_a_clear_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(CacheError, match="cannot open the cache"):
        LocalStore(blocker / "sub")
