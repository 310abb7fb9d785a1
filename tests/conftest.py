"""Shared fixtures. Tests never touch the project's real cache: TRTBUILD_CACHE_DIR points at a tmp dir."""

from __future__ import annotations

import json
import os
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture(autouse=True)
def isolated_cache(tmp_path_factory, monkeypatch):
    cache = tmp_path_factory.mktemp("cache")
    logs = tmp_path_factory.mktemp("logs")
    monkeypatch.setenv("TRTBUILD_CACHE_DIR", str(cache))
    monkeypatch.setenv("TRTBUILD_LOG_DIR", str(logs))
    yield cache
    # Removed now, not at the end of the session: over ~760 tests these caches hold tens of GB of
    # engines, more than a CI runner's disk may have free (CI once failed with ENOSPC this way).
    for folder in (cache, logs):
        shutil.rmtree(folder, ignore_errors=True)
    assert not any((ROOT / "cache").glob("cache.db*")) or _untouched(), "a test wrote to the real cache"


_real_cache_state = {p.name: p.stat().st_mtime for p in (ROOT / "cache").glob("*")}


def _untouched() -> bool:
    return {p.name: p.stat().st_mtime for p in (ROOT / "cache").glob("*")} == _real_cache_state


@pytest.fixture
def recipe_dir(tmp_path: Path) -> Path:
    """A folder holding copies of the fixture model modules, for recipes that name them."""
    for source in FIXTURES.glob("*.py"):
        (tmp_path / source.name).write_text(source.read_text())
    return tmp_path


def tiny_recipe(factory: str = "tiny_models:convnet", shape: tuple = (1, 3, 7, 7), *, model: str = "",
                settings: str = "") -> str:
    """A recipe for a fixture model; `model` and `settings` are extra TOML lines for those tables."""
    text = f'[model]\nfactory = "{factory}"\n{model}[[inputs]]\nname = "x"\nshape = {list(shape)}\n'
    return text + (f"[settings]\n{settings}" if settings else "")


CONVNET = tiny_recipe(settings="min_block_size = 1\n")  # conv, bn, relu, ceil-mode pool, linear
MIXED = tiny_recipe("tiny_models:with_unsupported", (2, 8))  # trt / torch (erfinv) / trt


def write_recipe(folder: Path, name: str, text: str) -> Path:
    path = folder / f"{name}.toml"
    path.write_text(text)
    return path


def run_cli(*args: str, cwd: Path | None = None, env: dict | None = None):
    """Run `python -m trtbuild` in a fresh process (as users do); return the CompletedProcess."""
    import subprocess

    full_env = dict(os.environ, **(env or {}))
    return subprocess.run([sys.executable, "-m", "trtbuild", *args], cwd=cwd, env=full_env,
                          capture_output=True, text=True, timeout=600)


@dataclass
class Outcome:
    code: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        return json.loads(self.stdout)


@pytest.fixture
def cli(capsys):
    """`trtbuild ARGS` through the console script's own entry point, in this process (fast)."""
    from trtbuild.cli.main import main

    def run(*args: str) -> Outcome:
        with pytest.raises(SystemExit) as exit_info:
            main(list(args))
        captured = capsys.readouterr()
        return Outcome(exit_info.value.code, captured.out, captured.err)

    return run
