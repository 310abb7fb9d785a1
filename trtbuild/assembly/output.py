"""Writing and reading build output dirs without torch: the fast path writes outputs from the cache
without importing it (see stamp.py), so nothing here may import torch.

Files are content-addressed and written with temp + rename; manifest.json is replaced last, so a
reader sees either the previous complete build or the new one, never half of one. One writer at a
time holds an flock on the output dir; the kernel drops it when the writer dies, even by SIGKILL, so
the temp files (`.*.tmp`) the next writer finds are a dead writer's, and it removes them.
"""

from __future__ import annotations

import fcntl
import json
import os
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

from ..cache.digest import digest_bytes
from ..errors import TrtbuildError

MANIFEST = "manifest.json"
FORMAT = 1


class ArtifactError(TrtbuildError):
    pass


def _atomic_write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, 0o666 & ~_umask())
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_artifacts(out_dir: Path, manifest: dict[str, Any], files: dict[str, bytes]) -> None:
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        with _sole_writer(out_dir):
            _remove_temp_files(out_dir)
            for rel, data in files.items():
                target = out_dir / rel
                # names are content addresses: an intact file of that name already holds these bytes
                if not (target.is_file() and target.stat().st_size == len(data)
                        and digest_bytes(target.read_bytes()) == Path(rel).name.split(".")[0]):
                    _atomic_write(target, data)
            _atomic_write(out_dir / MANIFEST, json.dumps(manifest, indent=1, sort_keys=True).encode())
            _remove_stale(out_dir, set(files))
    except OSError as exc:
        raise ArtifactError(f"cannot write build output to {out_dir}: {exc.strerror or exc}") from None


@contextmanager
def _sole_writer(out_dir: Path) -> Iterator[None]:
    """An exclusive flock on the output dir for the block (concurrent makes of one recipe take turns)."""
    fd = os.open(out_dir, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock


def _remove_temp_files(out_dir: Path) -> None:
    for folder in (out_dir, out_dir / "engines", out_dir / "graphs"):
        for path in folder.glob(".*.tmp"):
            path.unlink(missing_ok=True)


def _remove_stale(out_dir: Path, keep: set[str]) -> None:
    for folder in ("engines", "graphs"):
        for path in (out_dir / folder).glob("*"):
            if path.relative_to(out_dir).as_posix() not in keep and not path.name.startswith("."):
                path.unlink(missing_ok=True)


def read_manifest(out_dir: str | Path) -> dict[str, Any]:
    path = Path(out_dir) / MANIFEST
    try:
        manifest = json.loads(path.read_text())
    except FileNotFoundError:
        raise ArtifactError(f"{out_dir} is not a trtbuild output (no {MANIFEST})") from None
    except (OSError, ValueError) as exc:
        raise ArtifactError(f"cannot read {path}: {exc}") from None
    if manifest.get("format") != FORMAT:
        raise ArtifactError(f"{path}: unsupported format {manifest.get('format')!r}")
    return manifest
