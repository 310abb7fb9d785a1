"""Options shared by every command that reads the engine cache: one decorator, so that names, help and
precedence cannot drift apart between commands.

Precedence (first wins): the option, the environment, the `[cache]` table of trtbuild.toml
(`trtbuild/cache/stores.py`); the local cache dir: --cache-dir, $TRTBUILD_CACHE_DIR, ./cache.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import click

from .output import warn

CACHE_DIR = click.option("--cache-dir", metavar="DIR",
                         help="Local engine cache (default: $TRTBUILD_CACHE_DIR, then ./cache).")
REMOTE_CACHE = click.option("--remote-cache", metavar="URL",
                            help="Shared cache: http(s)://... or s3://bucket/prefix (default: $TRTBUILD_REMOTE_CACHE, "
                                 "then [cache] remote in trtbuild.toml).")
REMOTE_WRITE = click.option("--remote-write", is_flag=True,
                            help="Also upload new entries to the remote cache (default: $TRTBUILD_REMOTE_WRITE, "
                                 "then [cache] remote_write in trtbuild.toml).")


@dataclass(frozen=True)
class CacheOptions:
    """What the cache options said; commands open their store from it."""

    cache_dir: str | None = None
    remote: str | None = None
    remote_write: bool = False

    def open(self, read_only: bool = False) -> Any:
        """The local store, with the remote layered on when one is configured (see cache/stores.py).
        `read_only`: read entries, write and discard nothing (`make --check`)."""
        from ..cache.stores import open_store, read_cache_config

        return open_store(self.cache_dir, warn=warn, remote=self.remote, remote_write=self.remote_write,
                          config=read_cache_config(Path.cwd()), read_only=read_only)


class LazyStore:
    """A store opened at its first use, so that a run whose recipes are all refused at load touches no
    cache (and answers sooner). Opening errors surface at that first use."""

    def __init__(self, options: CacheOptions, read_only: bool = False):
        self._options, self._read_only, self._store = options, read_only, None

    def __getattr__(self, name: str) -> Any:
        if self._store is None:
            self._store = self._options.open(self._read_only)
        return getattr(self._store, name)

    def close(self) -> None:
        if self._store is not None:
            self._store.close()


def cache_options(*, remote: bool = True, write: bool = False) -> Callable:
    """Add --cache-dir (and --remote-cache, and --remote-write when the command writes to the remote) to a
    click command; the command receives them as one `cache: CacheOptions` argument."""
    def decorate(function: Callable) -> Callable:
        @functools.wraps(function)
        def command(*args: Any, cache_dir: str | None = None, remote_cache: str | None = None,
                    remote_write: bool = False, **kwargs: Any) -> Any:
            return function(*args, cache=CacheOptions(cache_dir, remote_cache, remote_write), **kwargs)

        options = [CACHE_DIR] + ([REMOTE_CACHE] if remote else []) + ([REMOTE_WRITE] if write else [])
        for option in reversed(options):
            command = option(command)
        return command

    return decorate
