"""A digest of the compiler's own source: every module that decides what an engine computes.

It enters every cache key, so an engine built by other converter code is never reused, without
anyone having to remember to bump a version number.
"""

from __future__ import annotations

import functools
import hashlib
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent
ENGINE_AFFECTING = ("conversion", "lowering", "partitioning", "engine", "profiles.py", "pipeline.py",
                    "settings.py", "inputs.py", "export")


@functools.cache
def compiler_digest() -> str:
    h = hashlib.sha256()
    for entry in ENGINE_AFFECTING:
        path = PACKAGE / entry
        files = sorted(path.rglob("*.py")) if path.is_dir() else [path]
        for file in files:
            h.update(file.relative_to(PACKAGE).as_posix().encode() + b"\0" + file.read_bytes() + b"\0")
    return h.hexdigest()
