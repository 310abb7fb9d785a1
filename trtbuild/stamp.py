"""The fast path: recognise an up-to-date recipe, and reuse its build, without importing torch.

A stamp is a digest of everything a recipe's build declares as input: the recipe text and the
defaults it inherits, the weights (or program) file, the factory's module and the local modules it
imports, `[model] sources`, the installed versions of torch, TensorRT, the factory's package and the
packages its local modules import, and trtbuild's version and compiler source. It is portable: files
are named by their path relative to the project root (the folder of the nearest `trtbuild.toml`
above the recipe, else the working directory) and modules by their dotted name, never by absolute
path, mtime or machine, so a fresh clone on another runner computes the same stamp.

After a successful build two records are stored next to the recipe entry (and, with
`--remote-write`, in the remote, signed like every entry):
  stamp/<stamp digest>     the declared inputs S gave recipe key K (plus the output's file sizes)
  latest/<recipe path id>  the last build of this recipe file: its stamp, key document and build
                           time; says why a recipe rebuilds on a runner that never built it, and
                           gives `make --shard` its costs
`make` looks the stamp up, locally then remotely. Found: when the output dir holds K intact there is
nothing to do; otherwise recipe entry K and its blobs are fetched (digest-verified) and the output is
written, still without torch. Not found: the full path (export, graph hash), so a stale engine is
never reused. File digests are memoised in the local cache by (absolute path, size, mtime), like
git's index; the memo is this machine's bookkeeping and never leaves it.
"""

from __future__ import annotations

import ast
import functools
import glob
import hashlib
import importlib.metadata
import importlib.util
import json
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import __version__
from .compiler_digest import compiler_digest
from .engine.backend import FLAVOURS, installed_version
from .recipe.load import DEFAULTS_FILE, defaults_files

STAMP_FORMAT = 2
RUN_ID_ENV = "TRTBUILD_RUN_ID"  # CI's run id (e.g. github.run_id): see shard_cost


@dataclass(frozen=True)
class Stamp:
    doc: dict[str, Any]
    digest: str


def project_root(recipe_path: Path) -> Path:
    """The folder of the nearest trtbuild.toml at or above the recipe, else the working directory."""
    for folder in Path(recipe_path).resolve().parents:
        if (folder / DEFAULTS_FILE).is_file():
            return folder
    return Path.cwd().resolve()


def project_path(path: Path, root: Path) -> str:
    """A portable name for a file: its path relative to the project root ('..' where it lies outside)."""
    return Path(os.path.relpath(Path(path).resolve(), root)).as_posix()


def file_digest(path: Path, store: Any) -> str:
    """SHA-256 of a file, memoised in the local store by absolute path, size and mtime."""
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


@functools.cache
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


def _imported_modules(source: Path) -> set[str]:
    """Absolute imports of a module file (relative ones are its own package: declare it in `sources`)."""
    try:
        tree = ast.parse(source.read_bytes())
    except (SyntaxError, ValueError):
        return set()  # the full path will report it
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
    return names


def _model_modules(recipe: Any, root: Path) -> tuple[dict[str, Path], set[str]]:
    """The modules of the factory and of the calibration callable, and the local modules they import,
    transitively ({name: file}); and the installed packages they import (their versions enter the
    stamp; their files do not). Data a calibration callable reads belongs in `[model] sources`."""
    named = [recipe.model.factory, recipe.quantize.calibration if recipe.quantize is not None else None]
    roots = [spec.partition(":")[0] for spec in named if spec]
    local: dict[str, Path] = {}
    packages = {name.split(".")[0] for name in roots}  # a local module may be an installed dist too
    if recipe.quantize is not None:
        packages.add("torchao")  # the quantization library decides the scales
    pending = list(roots)
    while pending:
        name = pending.pop()
        if name in local or name.split(".")[0] in sys.stdlib_module_names:
            continue
        path = module_file(name, recipe.folder)
        if path is None or not _is_local(path, root, recipe.folder):
            packages.add(name.split(".")[0])
            continue
        local[name] = path
        pending.extend(sorted(_imported_modules(path)))
    return local, packages


def _is_local(path: Path, root: Path, folder: Path) -> bool:
    resolved = path.resolve()
    inside = any(resolved.is_relative_to(base.resolve()) for base in (root, folder))
    return inside and "site-packages" not in resolved.parts


def _versions(recipe: Any, packages: set[str]) -> dict[str, Any]:
    versions = {"trtbuild": __version__, "compiler": compiler_digest(), "python": sys.version.split()[0]}
    try:
        versions["torch"] = importlib.metadata.version("torch")
    except importlib.metadata.PackageNotFoundError:
        versions["torch"] = None
    for flavour in FLAVOURS:  # which flavour "auto" picks depends on what is installed
        versions[flavour] = installed_version(flavour) if importlib.util.find_spec(flavour) else None
    versions["packages"] = {name: package_version(name) for name in sorted(packages)}
    return versions


def compute(recipe: Any, store: Any) -> Stamp | None:
    """The recipe's stamp, or None when the fast path cannot vouch for this recipe."""
    if recipe.target.backend == "tensorrt" or (recipe.target.backend == "auto" and importlib.util.find_spec("tensorrt")):
        return None  # standard TensorRT's key includes the local GPU, which only torch can tell us
    try:
        doc = _document(recipe, store)
    except OSError:
        return None  # an unreadable input: the full path reports it
    if doc is None:
        return None
    return Stamp(doc, hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest())


def _document(recipe: Any, store: Any) -> dict[str, Any] | None:
    root = project_root(recipe.path)
    files: dict[str, str] = {}

    def add(label: str, path: Path) -> None:
        files[label] = file_digest(path, store)

    add(project_path(recipe.path, root), recipe.path)
    for path in defaults_files(recipe.path):
        add(project_path(path, root), path)
    for relative in (recipe.model.weights, recipe.model.program):
        if relative:
            add(project_path(recipe.resolve(relative), root), recipe.resolve(relative))
    modules, packages = _model_modules(recipe, root)
    for name, path in modules.items():
        add(f"module:{name}", path)
    for pattern in recipe.model.sources:
        matches = sorted(glob.glob(str(recipe.folder / pattern), recursive=True))
        if not matches:
            return None  # a declared source is missing: let the full path report it
        for match in matches:
            if os.path.isfile(match):
                add(project_path(Path(match), root), Path(match))
    return {"format": STAMP_FORMAT, "files": files, "versions": _versions(recipe, packages)}


# -- records ----------------------------------------------------------------------------------

def latest_name(recipe_path: Path) -> str:
    """The `latest/` entry of a recipe file: named by its project path, so every clone agrees."""
    path = project_path(recipe_path, project_root(recipe_path))
    return hashlib.sha256(f"trtbuild-latest\0{path}".encode()).hexdigest()


def find_record(store: Any, stamp: Stamp | None) -> dict[str, Any] | None:
    """The stamp record (local, else remote), or None."""
    return None if stamp is None or store is None else store.get_meta("stamp", stamp.digest)


def previous_build(recipe: Any, store: Any) -> dict[str, Any] | None:
    """This recipe file's last build, as recorded by whichever machine built it."""
    return None if store is None else store.get_meta("latest", latest_name(recipe.path))


def output_intact(out_dir: Path, record: dict[str, Any]) -> bool:
    """Whether `out_dir` holds the record's build: same key, every file present with its size."""
    try:
        manifest = json.loads((out_dir / "manifest.json").read_text())
    except (OSError, ValueError):
        return False
    if manifest.get("key") != record.get("recipe_key"):
        return False
    return all((out_dir / rel).is_file() and (out_dir / rel).stat().st_size == size
               for rel, size in record.get("files", {}).items())


def record_build(recipe: Any, store: Any, stamp: Stamp | None, result: Any, key_doc: dict[str, Any],
                 file_sizes: dict[str, int], previous: dict[str, Any] | None, seconds: float) -> None:
    """After a successful full-path make: the stamp -> key record, and this recipe's latest build."""
    if store is None or stamp is None:
        return
    store.put_meta("stamp", stamp.digest, {"key": stamp.digest, "recipe_key": result.key, "files": file_sizes,
                                           "segments": result.segments})
    run = os.environ.get(RUN_ID_ENV) or None
    if result.status != "built":  # a cache hit says nothing about what building it costs
        seconds = (previous or {}).get("build_seconds")
    name = latest_name(recipe.path)
    store.put_meta("latest", name, {
        "key": name, "recipe": project_path(recipe.path, project_root(recipe.path)), "recipe_key": result.key,
        "stamp": stamp.doc, "key_doc": key_doc, "build_seconds": seconds, "recorded": time.time(), "run": run,
        # what a shard planner of this same run saw before this build replaced the cost (see shard_cost)
        "prior_build_seconds": _cost_before_run(previous, run)})


def _cost_before_run(previous: dict[str, Any] | None, run: str | None) -> float | None:
    if previous is None:
        return None
    if run is not None and previous.get("run") == run:
        return previous.get("prior_build_seconds")
    return previous.get("build_seconds")


def shard_cost(record: dict[str, Any] | None) -> float | None:
    """The build cost a shard planner uses. Shards of one CI run plan independently, each when it
    starts; a shard that already built a recipe in this run must not change another's plan, so a
    record written by this run ($TRTBUILD_RUN_ID) answers with the cost from before the run."""
    if record is None:
        return None
    run = os.environ.get(RUN_ID_ENV) or None
    cost = record.get("prior_build_seconds") if run is not None and record.get("run") == run else \
        record.get("build_seconds")
    return float(cost) if isinstance(cost, (int, float)) else None


def stamp_changes(old: dict[str, Any] | None, new: dict[str, Any]) -> list[str]:
    """What differs between two stamp documents, e.g. `model.py changed`, `torch: 2.13.0 -> 2.14.1`."""
    if not old:
        return []
    lines = []
    a, b = old.get("files", {}), new.get("files", {})
    for label in sorted(set(a) | set(b)):
        if a.get(label) != b.get(label):
            state = "added" if label not in a else "removed" if label not in b else "changed"
            lines.append(f"{label} {state}")
    va, vb = old.get("versions", {}), new.get("versions", {})
    for name in sorted(set(va) | set(vb)):
        if va.get(name) != vb.get(name):
            lines.append(f"{name}: {va.get(name)} -> {vb.get(name)}" if name != "compiler" else "compiler source changed")
    return lines
