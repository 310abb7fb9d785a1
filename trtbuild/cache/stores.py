"""Open the engine store a command should use: the local diskcache, with a remote layered on when configured.

Each remote option comes from (first wins): the command line, the environment, the `[cache]` table of
the nearest `trtbuild.toml`:

  option            environment                        [cache] key
  remote URL        TRTBUILD_REMOTE_CACHE              remote        http(s)://host/path or s3://bucket/prefix
  write mode        TRTBUILD_REMOTE_WRITE=1            remote_write  default off: developers only read
  timeout (s)       TRTBUILD_REMOTE_TIMEOUT            timeout
  retries           TRTBUILD_REMOTE_RETRIES            retries
  S3 endpoint       TRTBUILD_S3_ENDPOINT_URL           -             for S3-compatible servers
  HMAC secret       TRTBUILD_CACHE_HMAC_KEY            -
  HMAC key file     TRTBUILD_CACHE_HMAC_KEY_FILE       hmac_key_file
  ed25519 keys      TRTBUILD_CACHE_PRIVATE_KEY_FILE    private_key_file   (writers: CI)
                    TRTBUILD_CACHE_PUBLIC_KEY_FILE     public_key_file    (readers: developers)
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable, Mapping

from ..errors import CacheError, InputError
from .local import LocalStore, default_cache_dir
from .remote import DEFAULT_RETRIES, DEFAULT_TIMEOUT, open_remote
from .signing import load_key

CONFIG_FILE = "trtbuild.toml"
CONFIG_KEYS = ("remote", "remote_write", "timeout", "retries", "hmac_key_file", "public_key_file",
               "private_key_file")
KEY_FILE_KEYS = ("hmac_key_file", "public_key_file", "private_key_file")
KEY_ENV = {"hmac_key": "TRTBUILD_CACHE_HMAC_KEY", "hmac_key_file": "TRTBUILD_CACHE_HMAC_KEY_FILE",
           "private_key_file": "TRTBUILD_CACHE_PRIVATE_KEY_FILE", "public_key_file": "TRTBUILD_CACHE_PUBLIC_KEY_FILE"}
TRUE, FALSE = ("1", "true", "yes", "on"), ("0", "false", "no", "off", "")


def read_cache_config(start: Path) -> dict[str, Any]:
    """The `[cache]` table of the nearest trtbuild.toml that has one, from `start` up to the project root.

    Key file paths are made absolute relative to the file that names them.
    """
    from ..recipe.load import read_toml

    folder = Path(start).resolve()
    for parent in [folder, *folder.parents]:
        candidate = parent / CONFIG_FILE
        if candidate.is_file():
            table = read_toml(candidate).get("cache")
            if table is not None:
                return _checked_table(candidate, table)
        if (parent / "pyproject.toml").exists() or (parent / ".git").exists():
            break
    return {}


def _checked_table(path: Path, table: Any) -> dict[str, Any]:
    from ..recipe.load import _unknown_message
    from ..errors import RecipeError

    if not isinstance(table, dict):
        raise RecipeError(str(path), "cache", "must be a table")
    for key in table:
        if key not in CONFIG_KEYS:
            raise RecipeError(str(path), f"cache.{key}", _unknown_message(key, CONFIG_KEYS, "cache option"))
    out = dict(table)
    for key in KEY_FILE_KEYS:
        if isinstance(out.get(key), str):
            out[key] = str((path.parent / out[key]).expanduser())
    return out


def _flag(text: str, name: str) -> bool:
    if text.strip().lower() in TRUE:
        return True
    if text.strip().lower() in FALSE:
        return False
    raise InputError(f"{name} must be 1/true/yes or 0/false/no, not {text!r}")


def _number(value: Any, name: str, kind: type) -> Any:
    try:
        number = kind(value)
    except (TypeError, ValueError):
        raise InputError(f"{name} must be a number, not {value!r}") from None
    if number < 0:
        raise InputError(f"{name} must not be negative")
    return number


def remote_settings(remote: str | None, remote_write: bool, config: Mapping[str, Any],
                    environ: Mapping[str, str]) -> dict[str, Any]:
    """Resolve the remote options: command line, then environment, then trtbuild.toml."""
    def pick(env: str, key: str, default: Any) -> Any:
        return environ[env] if environ.get(env) not in (None, "") else config.get(key, default)

    write = environ.get("TRTBUILD_REMOTE_WRITE")
    write_on = _flag(write, "TRTBUILD_REMOTE_WRITE") if write is not None else bool(config.get("remote_write"))
    return {
        "url": remote or pick("TRTBUILD_REMOTE_CACHE", "remote", None),
        "write": bool(remote_write) or write_on,
        "timeout": _number(pick("TRTBUILD_REMOTE_TIMEOUT", "timeout", DEFAULT_TIMEOUT), "remote timeout", float),
        "retries": _number(pick("TRTBUILD_REMOTE_RETRIES", "retries", DEFAULT_RETRIES), "remote retries", int),
        "s3_endpoint": environ.get("TRTBUILD_S3_ENDPOINT_URL") or None,
    }


def cache_key(config: Mapping[str, Any] | None = None, environ: Mapping[str, str] | None = None) -> Any:
    """The team signing key (HMAC or ed25519), or None: environment first, then trtbuild.toml."""
    config, environ = config or {}, os.environ if environ is None else environ
    from_env = {arg: environ.get(env) or None for arg, env in KEY_ENV.items()}
    if any(from_env.values()):  # a key in the environment replaces the file's key set, never mixes with it
        return load_key(**from_env)
    return load_key(**{arg: config.get(arg) or None for arg in KEY_FILE_KEYS})


def _open_local(directory: Path, warn: Callable[[str], None], read_only: bool) -> Any:
    """The local store; read-only when asked, or when the cache dir exists but cannot be written (its
    hits are still worth having: a warning, not a failure)."""
    from .readonly import ReadOnlyStore

    if read_only:
        return ReadOnlyStore(directory, warn)
    try:
        return LocalStore(directory, warn=warn)
    except CacheError as exc:
        if not directory.is_dir():
            raise
        warn(f"{exc}; reading it without storing anything")
        return ReadOnlyStore(directory, warn)


def open_store(cache_dir: str | None = None, *, warn: Callable[[str], None] | None = None,
               remote: str | None = None, remote_write: bool = False, config: Mapping[str, Any] | None = None,
               environ: Mapping[str, str] | None = None, read_only: bool = False, **options: Any):
    """The store for `make` and friends. `cache_dir`: --cache-dir, else $TRTBUILD_CACHE_DIR, else ./cache.

    A LocalStore, or a LayeredStore when a remote cache is configured. Bad configuration raises
    InputError (exit 2); an unreachable remote does not (it only warns, at first use). `read_only`
    (or a cache dir this process cannot write) reads the local cache without changing it.
    """
    environ = os.environ if environ is None else environ
    settings = remote_settings(remote, remote_write, config or {}, environ)
    key = cache_key(config, environ)  # read before opening anything: a bad key file is bad input
    local = _open_local(default_cache_dir(cache_dir), warn or (lambda message: None), read_only)
    if read_only:
        settings["write"] = False
    if not settings["url"]:
        return local
    try:
        backend = open_remote(settings["url"], timeout=settings["timeout"], retries=settings["retries"],
                              s3_endpoint=settings["s3_endpoint"])
        if settings["write"] and key is not None and not key.can_sign:
            raise InputError("remote write mode needs the private key to sign entries (only a public key is "
                             "configured); readers would reject unsigned entries")
    except BaseException:
        local.close()
        raise
    from .layered import LayeredStore

    return LayeredStore(local, backend, write=settings["write"], signer=key if key and key.can_sign else None,
                        verifier=key, warn=warn)
