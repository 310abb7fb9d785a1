"""The no-op fast path: recognise an up-to-date recipe without importing torch or exporting.

A stamp is a digest of everything a recipe's build declares as input: the recipe text and the
defaults it inherits, the weights (or program) file, the model's source files, the installed
versions of torch, TensorRT and the factory's package, and trtbuild's own version and compiler
source. When the stamp equals the one recorded after the last successful build of the same recipe
into the same output dir, and that output is intact, nothing needs doing. Any difference falls back
to the full path (export and graph hash), so a stale engine is never reused.

File digests are cached by (path, size, mtime_ns), like git's index, so an unchanged 100 MB weights
file is not re-hashed.
"""

from __future__ import annotations

import glob
import hashlib
import importlib.metadata
import importlib.util
import json
import os
import sys
from pathlib import Path
from typing import Any

from . import __version__
from .compiler_digest import compiler_digest
from .engine.backend import FLAVOURS, installed_version
from .recipe.load import defaults_files

STAMP_FORMAT = 1


def file_digest(path: Path, store: Any) -> str:
    """SHA-256 of a file, cached in the store by path, size and mtime."""
    stat = path.stat()
    name = "sha256:" + hashlib.sha256(str(path.resolve()).encode()).hexdigest()
    cached = store.get_meta("filehash", name) if store is not None else None
    if cached and cached.get("size") == stat.st_size and cached.get("mtime_ns") == stat.st_mtime_ns:
        return cached["sha256"]
    h = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            h.update(block)
    digest = h.hexdigest()
    if store is not None:
        store.put_meta("filehash", name, {"key": name, "size": stat.st_size, "mtime_ns": stat.st_mtime_ns,
                                          "sha256": digest})
    return digest


def module_file(module: str, folder: Path) -> Path | None:
    """Find a module's source without importing it (find_spec would import parent packages)."""
    parts = module.split(".")
    for root in [str(folder), *sys.path]:
        base = Path(root or ".").joinpath(*parts)
        for candidate in (base.with_suffix(".py"), base / "__init__.py"):
            if candidate.is_file():
                return candidate
    return None


def package_version(module: str) -> str | None:
    """`dist==version` of the distribution that installs `module`'s top-level package.

    Not importlib.metadata.packages_distributions(): it builds Path objects for every installed
    file (0.7 s with torch installed). Scanning top_level.txt and RECORD as text is enough.
    """
    top = module.split(".")[0]
    try:
        return f"{top}=={importlib.metadata.version(top)}"
    except importlib.metadata.PackageNotFoundError:
        pass
    for dist in importlib.metadata.distributions():
        listed = (dist.read_text("top_level.txt") or "").split()
        record = "" if listed else (dist.read_text("RECORD") or "")
        if top in listed or any(line.startswith((f"{top}/", f"{top}.py")) for line in record.splitlines()):
            return f"{dist.metadata['Name']}=={dist.version}"
    return None


def _versions(recipe: Any) -> dict[str, Any]:
    versions = {"trtbuild": __version__, "compiler": compiler_digest(), "python": sys.version.split()[0]}
    try:
        versions["torch"] = importlib.metadata.version("torch")
    except importlib.metadata.PackageNotFoundError:
        versions["torch"] = None
    for flavour in FLAVOURS:  # which flavour "auto" picks depends on what is installed
        versions[flavour] = installed_version(flavour) if importlib.util.find_spec(flavour) else None
    if recipe.model.factory:
        versions["factory_package"] = package_version(recipe.model.factory.partition(":")[0])
    if recipe.quantize is not None:
        versions["torchao"] = package_version("torchao")
    return versions


def stamp_document(recipe: Any, store: Any, out_dir: Path) -> dict[str, Any] | None:
    """The stamp's inputs, or None when the fast path cannot vouch for this recipe."""
    if recipe.target.backend == "tensorrt" or (recipe.target.backend == "auto" and importlib.util.find_spec("tensorrt")):
        return None  # standard TensorRT's key includes the local GPU, which only torch can tell us
    files: dict[str, str] = {}

    def add(path: Path) -> None:
        files[str(path.resolve())] = file_digest(path, store)

    add(recipe.path)
    for path in defaults_files(recipe.path):
        add(path)
    for relative in (recipe.model.weights, recipe.model.program):
        if relative:
            add(recipe.resolve(relative))
    if recipe.model.factory:
        source = module_file(recipe.model.factory.partition(":")[0], recipe.folder)
        if source is not None:
            add(source)
    if recipe.quantize is not None and recipe.quantize.calibration:  # data it reads: list in [model] sources
        source = module_file(recipe.quantize.calibration.partition(":")[0], recipe.folder)
        if source is not None:
            add(source)
    for pattern in recipe.model.sources:
        matches = sorted(glob.glob(str(recipe.folder / pattern), recursive=True))
        if not matches:
            return None  # a declared source is missing: let the full path report it
        for match in matches:
            if os.path.isfile(match):
                add(Path(match))
    return {"format": STAMP_FORMAT, "files": files, "versions": _versions(recipe),
            "out_dir": str(out_dir.resolve()), "env": {"TRTBUILD_CACHE_DIR": os.environ.get("TRTBUILD_CACHE_DIR")}}


def stamp_name(recipe: Any, out_dir: Path) -> str:
    return hashlib.sha256(f"{recipe.path}\0{out_dir.resolve()}".encode()).hexdigest()


def digest_stamp(doc: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()


def up_to_date(recipe: Any, store: Any, out_dir: Path) -> dict[str, Any] | None:
    """The last build's record when the recipe is up to date (stamp unchanged, output intact)."""
    try:
        doc = stamp_document(recipe, store, out_dir)
    except OSError:
        return None
    if doc is None:
        return None
    name = stamp_name(recipe, out_dir)
    record = store.get_meta("stamp", name)
    if not record or record.get("stamp") != digest_stamp(doc):
        return None
    return record if _output_intact(out_dir, record) else None


def _output_intact(out_dir: Path, record: dict[str, Any]) -> bool:
    try:
        manifest = json.loads((out_dir / "manifest.json").read_text())
    except (OSError, ValueError):
        return False
    if manifest.get("key") != record.get("recipe_key"):
        return False
    return all((out_dir / rel).is_file() and (out_dir / rel).stat().st_size == size
               for rel, size in record.get("files", {}).items())


def record_stamp(recipe: Any, store: Any, out_dir: Path, doc: dict[str, Any] | None, result: Any,
                 file_sizes: dict[str, int]) -> None:
    """After a successful build: remember the stamp it was built from."""
    if doc is None:
        return
    name = stamp_name(recipe, out_dir)
    store.put_meta("stamp", name, {"key": name, "stamp": digest_stamp(doc), "recipe_key": result.key,
                                   "files": file_sizes, "segments": result.segments})
