"""Resource faults: a cache dir or output dir that cannot be written, a disk that fills up.

A cache dir that cannot be written is still read (its hits served, nothing stored) with a warning.
The others give one clear error line and exit code 1, and leave nothing half-written: no cache entry,
no value file without an entry, no manifest, no temp file. A full disk is both simulated (a write that
fails half-way with ENOSPC) and real (a tiny tmpfs, where this machine lets us mount one).
"""

from __future__ import annotations

import errno
import json
import os

import diskcache
import pytest

import trtbuild
from trtbuild.assembly import output

from .conftest import cache_names, convnet_recipe, make_here, orphan_files, read_only, temp_files, tmpfs

NO_SPACE = OSError(errno.ENOSPC, "No space left on device")


def assert_cache_holds_no_build(cache) -> None:
    assert cache_names(cache, "blob") == cache_names(cache, "segment") == cache_names(cache, "recipe") == []
    assert orphan_files(cache) == set()


def assert_no_output(out) -> None:
    assert not (out / "manifest.json").exists() and temp_files(out.parent) == []


# -- the cache ----------------------------------------------------------------------------------

def test_a_read_only_empty_cache_dir_warns_and_builds_without_storing(recipe_dir, tmp_path, cli):
    recipe = convnet_recipe(recipe_dir, "tiny")
    with read_only(tmp_path / "cache") as cache:
        made = cli("make", str(recipe), "--cache-dir", str(cache), "--out-dir", str(tmp_path / "out"), "--json")
        assert made.code == 0, made.stderr
        assert made.stderr.startswith(f"warning: cannot open the cache at {cache}: ")
        assert "reading it without storing anything" in made.stderr
        assert made.json()["recipes"][0]["status"] == "built"
        assert list(cache.iterdir()) == []
    trtbuild.load(tmp_path / "out" / "tiny")


def test_a_read_only_cache_still_serves_hits(recipe_dir, tmp_path, cli):
    recipe, cache = convnet_recipe(recipe_dir, "tiny"), tmp_path / "cache"
    assert make_here(recipe, cache, tmp_path / "out").status == "built"
    before = {p: p.stat().st_mtime_ns for p in cache.rglob("*")}
    with read_only(cache):
        made = cli("make", str(recipe), "--cache-dir", str(cache), "--out-dir", str(tmp_path / "out2"), "--json")
    assert made.code == 0, made.stderr
    assert made.stderr.startswith(f"warning: cannot open the cache at {cache}: ")
    [report] = made.json()["recipes"]
    assert report["status"] == "cached" and report["segments"][0]["cache"] == "hit"
    assert {p: p.stat().st_mtime_ns for p in cache.rglob("*")} == before
    trtbuild.load(tmp_path / "out2" / "tiny")


def half_then_full(self, full_path, iterator, mode, encoding=None):
    """diskcache's value-file write on a disk that fills up half-way through."""
    data = b"".join(chunk if isinstance(chunk, bytes) else chunk.encode() for chunk in iterator)
    os.makedirs(os.path.dirname(full_path), exist_ok=True)
    with open(full_path, "wb") as handle:
        handle.write(data[: len(data) // 2])
    raise NO_SPACE


def test_disk_full_while_storing_the_engine(recipe_dir, tmp_path, monkeypatch):
    recipe, cache, out = convnet_recipe(recipe_dir, "tiny"), tmp_path / "cache", tmp_path / "out"
    monkeypatch.setattr(diskcache.Disk, "_write", half_then_full)
    failed = make_here(recipe, cache, out)
    assert failed.status == "failed" and failed.exit_code == 1
    assert failed.error == f"cannot write to the cache at {cache}: [Errno 28] No space left on device"
    assert_cache_holds_no_build(cache)
    assert_no_output(out / "tiny")
    monkeypatch.undo()  # space freed: the next make completes
    assert make_here(recipe, cache, out).status == "built"
    trtbuild.load(out / "tiny")


def test_a_real_full_disk_under_the_cache(recipe_dir, tmp_path):
    recipe = convnet_recipe(recipe_dir, "tiny")
    with tmpfs(tmp_path / "cache", "256k") as cache:
        failed = make_here(recipe, cache, tmp_path / "out")
        assert failed.status == "failed" and failed.exit_code == 1
        assert failed.error.startswith(f"cannot write to the cache at {cache}: ")
        assert "No space left on device" in failed.error or "disk is full" in failed.error
        assert_cache_holds_no_build(cache)
    assert_no_output(tmp_path / "out" / "tiny")


# -- the output dir -----------------------------------------------------------------------------

def test_a_read_only_output_dir_is_a_clear_error(recipe_dir, tmp_path):
    recipe, cache = convnet_recipe(recipe_dir, "tiny"), tmp_path / "cache"
    with read_only(tmp_path / "out") as out:
        failed = make_here(recipe, cache, out)
        assert failed.status == "failed" and failed.exit_code == 1
        assert failed.error == f"cannot write build output to {out / 'tiny'}: Read-only file system"
        assert list(out.iterdir()) == []
    assert make_here(recipe, cache, out).status == "cached"  # the build itself was kept


def test_disk_full_while_writing_output_keeps_the_previous_build(recipe_dir, tmp_path, monkeypatch):
    recipe, cache, out = convnet_recipe(recipe_dir, "tiny"), tmp_path / "cache", tmp_path / "out"
    first = make_here(recipe, cache, out)
    recipe.write_text(recipe.read_text().replace("channels = 4", "channels = 6"))

    def no_space(fd):
        raise NO_SPACE

    monkeypatch.setattr(output.os, "fsync", no_space)  # the data went to the page cache; the disk is full
    failed = make_here(recipe, cache, out)
    assert failed.status == "failed" and failed.exit_code == 1
    assert failed.error == f"cannot write build output to {out / 'tiny'}: No space left on device"
    assert temp_files(out) == []
    assert json.loads((out / "tiny" / "manifest.json").read_text())["key"] == first.key
    assert trtbuild.load(out / "tiny").trtbuild_manifest["key"] == first.key  # the last complete build


def test_a_real_full_disk_under_the_output_dir(recipe_dir, tmp_path):
    recipe = convnet_recipe(recipe_dir, "tiny")
    with tmpfs(tmp_path / "out", "128k") as out:
        failed = make_here(recipe, tmp_path / "cache", out)
        assert failed.status == "failed" and failed.exit_code == 1
        assert failed.error == f"cannot write build output to {out / 'tiny'}: No space left on device"
        assert_no_output(out / "tiny")


@pytest.mark.parametrize("where", ["cache", "output"])
def test_the_cli_reports_a_full_disk_in_one_line_with_exit_code_1(recipe_dir, tmp_path, monkeypatch, cli, where):
    recipe = convnet_recipe(recipe_dir, "tiny")
    if where == "cache":
        monkeypatch.setattr(diskcache.Disk, "_write", half_then_full)
    else:
        monkeypatch.setattr(output.os, "fsync", lambda fd: (_ for _ in ()).throw(NO_SPACE))
    made = cli("make", str(recipe), "--cache-dir", str(tmp_path / "cache"), "--out-dir", str(tmp_path / "out"))
    assert made.code == 1 and "Traceback" not in made.stderr
    [line] = [l for l in made.stderr.splitlines() if l.startswith("error:")]
    assert "No space left on device" in line


# -- memory ---------------------------------------------------------------------------------------

HUGE = '''
import torch


class Huge(torch.nn.Module):
    """Lowering folds the weight-free `ones(...).sum()` at build time: a 3.6 GB temporary."""

    def forward(self, x):
        return x + torch.ones(30000, 30000).sum()


def huge():
    return Huge()
'''


def test_a_build_past_its_memory_limit_stops_with_a_clear_error(recipe_dir, tmp_path):
    from tests.conftest import run_cli, write_recipe

    (recipe_dir / "huge.py").write_text(HUGE)
    write_recipe(recipe_dir, "huge", '[model]\nfactory = "huge:huge"\n[[inputs]]\nname = "x"\nshape = [2]\n')
    made = run_cli("make", "huge.toml", "--out-dir", str(tmp_path / "out"), cwd=recipe_dir,
                   env={"TRTBUILD_MEMORY_LIMIT_GB": "2.5"})
    assert made.returncode == 1 and "Traceback" not in made.stderr
    assert ("huge.toml: out of memory while in stage 'lower': the build needed more than its limit of 2.5 GB "
            "($TRTBUILD_MEMORY_LIMIT_GB sets the limit") in made.stderr
    assert_no_output(tmp_path / "out" / "huge")


def test_a_bad_memory_limit_is_an_input_error(recipe_dir, cli, monkeypatch):
    monkeypatch.setenv("TRTBUILD_MEMORY_LIMIT_GB", "lots")
    made = cli("make", str(convnet_recipe(recipe_dir, "tiny")), "--cache-dir", str(recipe_dir / "cache"))
    assert made.code == 2 and "$TRTBUILD_MEMORY_LIMIT_GB: expected a number of GB, got 'lots'" in made.stderr


MMAPPED_AFTER_A_LARGER_FREE = '''
import ctypes, sys
from trtbuild.resources import return_large_blocks
class MallInfo2(ctypes.Structure):
    _fields_ = [(n, ctypes.c_size_t) for n in ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks",
                                                "fsmblks", "uordblks", "fordblks", "keepcost")]
libc = ctypes.CDLL(None)
libc.mallinfo2.restype = MallInfo2
libc.malloc.restype, libc.malloc.argtypes, libc.free.argtypes = ctypes.c_void_p, [ctypes.c_size_t], [ctypes.c_void_p]
libc.free(libc.malloc(8 << 20))  # glibc now serves blocks up to 8 MiB from its heap
applied = return_large_blocks() if sys.argv[1] == "apply" else None
mapped = libc.mallinfo2().hblks
libc.malloc(1 << 20)
print(applied, libc.mallinfo2().hblks - mapped)
'''


@pytest.mark.skipif(not hasattr(__import__("ctypes").CDLL(None), "mallinfo2"), reason="needs glibc 2.33+ (mallinfo2)")
def test_large_blocks_get_their_own_mapping_again_after_return_large_blocks():
    import subprocess
    import sys
    from pathlib import Path

    root = Path(trtbuild.__file__).parents[1]  # the trtbuild under test, not an installed one

    def run(mode: str) -> list[str]:  # a fresh process: glibc's threshold is process state
        return subprocess.run([sys.executable, "-c", MMAPPED_AFTER_A_LARGER_FREE, mode], check=True, cwd=root,
                              capture_output=True, text=True).stdout.split()

    assert run("default") == ["None", "0"]  # a 1 MiB block from the heap: its space is kept when freed
    assert run("apply") == ["True", "1"]  # its own mapping, unmapped when freed


def test_return_large_blocks_leaves_a_malloc_without_mallopt_alone(monkeypatch):
    import ctypes

    from trtbuild import resources

    monkeypatch.setattr(ctypes, "CDLL", lambda name: object())  # no mallopt: not glibc
    assert resources.return_large_blocks() is False


GC_CHILD = """
import gc
from trtbuild.resources import imports_without_gc

with imports_without_gc(freeze=True):
    assert not gc.isenabled()
    import xml.dom.minidom  # noqa: F401
assert gc.isenabled() and gc.get_freeze_count() > 0
frozen = gc.get_freeze_count()
later = [[] for _ in range(1000)]  # what a later build keeps alive must stay collectable
with imports_without_gc(freeze=True):
    pass
assert gc.get_freeze_count() == frozen, "froze twice"
gc.disable()
with imports_without_gc():
    pass
assert not gc.isenabled(), "the caller turned the collector off; it stays off"
print("ok")
"""


def test_imports_run_without_the_collector_and_freeze_once():
    import subprocess
    import sys

    child = subprocess.run([sys.executable, "-c", GC_CHILD], capture_output=True, text=True, timeout=300)
    assert child.stdout.strip() == "ok", child.stderr[-2000:]
