"""Writing an output dir: engines the cache already holds are linked, not copied."""

import os

from trtbuild.assembly.artifacts import write_artifacts
from trtbuild.cache.digest import digest_bytes


def _engine(data: bytes) -> str:
    return f"engines/{digest_bytes(data)}.plan"


def test_a_cached_engine_is_hard_linked_into_the_out_dir(tmp_path):
    data = b"plan" * 1000
    cached = tmp_path / "cache.val"
    cached.write_bytes(data)
    write_artifacts(tmp_path / "out", {"format": 1}, {_engine(data): data}, {_engine(data): cached})
    written = tmp_path / "out" / _engine(data)
    assert written.read_bytes() == data and os.path.samefile(written, cached)
    assert not list((tmp_path / "out" / "engines").glob(".*.tmp"))


def test_without_a_linkable_source_the_bytes_are_written(tmp_path):
    data = b"plan" * 1000
    gone = tmp_path / "evicted.val"  # culled from the cache after it was verified
    write_artifacts(tmp_path / "out", {"format": 1}, {_engine(data): data}, {_engine(data): gone})
    assert (tmp_path / "out" / _engine(data)).read_bytes() == data
    assert not list((tmp_path / "out" / "engines").glob(".*.tmp"))
