"""Open the engine store a command should use (local diskcache; remote layers plug in here)."""

from __future__ import annotations

from typing import Any, Callable

from .local import LocalStore, default_cache_dir


def open_store(cache_dir: str | None = None, *, warn: Callable[[str], None] | None = None, **options: Any):
    """The store for `make` and friends. `cache_dir`: --cache-dir, else $TRTBUILD_CACHE_DIR, else ./cache."""
    return LocalStore(default_cache_dir(cache_dir), warn=warn)
