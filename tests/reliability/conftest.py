"""Reliability harness: tiny recipes, the CLI run in this process, cache surgery, small filesystems."""

from __future__ import annotations

import json
import os
import sqlite3
import shutil
import subprocess
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import pytest

from tests.conftest import FIXTURES, tiny_recipe

CONVNET = tiny_recipe(model="kwargs = {{ channels = {channels} }}\n")  # .format(channels=...)


def convnet_recipe(folder: Path, name: str, channels: int = 4) -> Path:
    """A tiny recipe (and the fixture models beside it); distinct `channels` give distinct keys."""
    for source in FIXTURES.glob("*.py"):
        if not (folder / source.name).exists():
            (folder / source.name).write_text(source.read_text())
    path = folder / f"{name}.toml"
    path.write_text(CONVNET.format(channels=channels))
    return path


# -- cache surgery ----------------------------------------------------------------------------

@contextmanager
def index(cache_dir: Path) -> Iterator[sqlite3.Connection]:
    """diskcache's index, committed and closed on leaving (sqlite3's own `with` only commits: a connection
    left to the garbage collector checkpoints the database whenever it is collected)."""
    db = sqlite3.connect(cache_dir / "cache.db")
    try:
        with db:
            yield db
    finally:
        db.close()


def entry_file(cache_dir: Path, name: str) -> Path | None:
    """The value file of a cache entry, or None when diskcache keeps the value in its index."""
    with index(cache_dir) as db:
        (filename,) = db.execute("SELECT filename FROM Cache WHERE key = ?", (name,)).fetchone()
    return cache_dir / filename if filename else None


def read_entry(cache_dir: Path, name: str) -> bytes:
    path = entry_file(cache_dir, name)
    if path is not None:
        return path.read_bytes()
    with index(cache_dir) as db:
        (value,) = db.execute("SELECT CAST(value AS BLOB) FROM Cache WHERE key = ?", (name,)).fetchone()
    return value


def write_entry(cache_dir: Path, name: str, data: bytes) -> None:
    """Replace an entry's stored bytes behind diskcache's back (its index row is left as it was)."""
    path = entry_file(cache_dir, name)
    if path is not None:
        path.write_bytes(data)
        return
    with index(cache_dir) as db:
        db.execute("UPDATE Cache SET value = ? WHERE key = ?", (data, name))


def flip(data: bytes, at: float = 0.5, bit: int = 0x01) -> bytes:
    damaged = bytearray(data)
    damaged[int(len(data) * at)] ^= bit
    return bytes(damaged)


# Each kind of damage: what it does to an entry's stored bytes (None: remove the value file).
CORRUPTIONS = {
    "flipped byte": lambda data: flip(data),
    "flipped high bit": lambda data: flip(data, 0.3, 0x80),
    "truncated": lambda data: data[: len(data) // 2],
    "emptied": lambda data: b"",
}


def corrupt(cache_dir: Path, name: str, how: str) -> None:
    if how == "missing file":
        entry_file(cache_dir, name).unlink()
    else:
        write_entry(cache_dir, name, CORRUPTIONS[how](read_entry(cache_dir, name)))


def cache_names(cache_dir: Path, kind: str | None = None) -> list[str]:
    with index(cache_dir) as db:
        names = [k for (k,) in db.execute("SELECT key FROM Cache")]
    return [n for n in names if kind is None or n.startswith(kind + "/")]


def orphan_files(cache_dir: Path) -> set[Path]:
    """Value files no cache entry names (a half-written or abandoned write)."""
    with index(cache_dir) as db:
        named = {cache_dir / f for (f,) in db.execute("SELECT filename FROM Cache WHERE filename IS NOT NULL")}
    return {p for p in cache_dir.rglob("*.val")} - named


def temp_files(out_dir: Path) -> list[Path]:
    return sorted(out_dir.rglob(".*.tmp"))


# -- filesystems ------------------------------------------------------------------------------

@contextmanager
def tmpfs(path: Path, size: str) -> Iterator[Path]:
    """A tiny tmpfs at `path` (for a disk that fills up); skips the test where mounting is not allowed."""
    path.mkdir(parents=True, exist_ok=True)
    mount = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
                           capture_output=True, text=True)
    if mount.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mount.stderr.strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=True)


@contextmanager
def read_only(path: Path) -> Iterator[Path]:
    """`path` (made if needed) read-only for this process: a read-only bind mount as root, who ignores
    permissions; mode 0555 otherwise."""
    path.mkdir(parents=True, exist_ok=True)
    if os.geteuid() != 0:
        path.chmod(0o555)
        try:
            yield path
        finally:
            path.chmod(0o755)
        return
    binds = [["mount", "--bind", str(path), str(path)], ["mount", "-o", "remount,bind,ro", str(path)]]
    for command in binds:
        proc = subprocess.run(command, capture_output=True, text=True)
        if proc.returncode != 0:
            subprocess.run(["umount", "-l", str(path)], capture_output=True)
            pytest.skip(f"cannot make a read-only mount here: {proc.stderr.strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=True)


def make_here(recipe: Path, cache_dir: Path, out_root: Path, warnings: list[str] | None = None):
    """`make RECIPE` in this process, without the no-op fast path: every run looks in the cache."""
    from trtbuild.cache.local import LocalStore
    from trtbuild.make import make_recipe
    from trtbuild.recipe import load_recipe

    store = LocalStore(cache_dir, warn=(warnings if warnings is not None else []).append)
    try:
        return make_recipe(load_recipe(recipe), store, str(out_root), fast_path=False)
    finally:
        store.close()


@pytest.fixture(scope="session")
def prebuilt(tmp_path_factory):
    """Recipes `tiny` (4 channels) and `r2` (5) built once, into one cache and one output root."""
    folder = tmp_path_factory.mktemp("prebuilt")
    made = {name: make_here(convnet_recipe(folder, name, channels), folder / "cache", folder / "out")
            for name, channels in (("tiny", 4), ("r2", 5))}
    assert [r.status for r in made.values()] == ["built", "built"], [r.error for r in made.values()]
    return folder, made


@dataclass
class Built:
    cache: Path
    out: Path
    recipes: dict[str, Path]
    results: dict[str, Any]  # RecipeResult by recipe name

    def entry(self, kind: str, name: str = "tiny") -> str:
        """The cache entry of recipe `name`'s build, its engine's segment, or its engine blob."""
        [engine] = json.loads((self.out / name / "manifest.json").read_text())["segments"]
        return {"recipe": f"recipe/{self.results[name].key}", "segment": f"segment/{engine['key']}",
                "blob": f"blob/{engine['sha256']}"}[kind]


@pytest.fixture
def built(prebuilt, recipe_dir, tmp_path) -> Built:
    """A copy of the prebuilt cache and outputs (to damage at will), and the recipes in recipe_dir."""
    folder, made = prebuilt
    shutil.copytree(folder / "cache", tmp_path / "cache")
    shutil.copytree(folder / "out", tmp_path / "out")
    recipes = {name: convnet_recipe(recipe_dir, name, channels) for name, channels in (("tiny", 4), ("r2", 5))}
    return Built(tmp_path / "cache", tmp_path / "out", recipes, made)
