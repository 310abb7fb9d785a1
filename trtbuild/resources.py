"""A memory limit for builds: past it, allocations fail and the build stops with a clear error,
instead of the machine swapping and the kernel's OOM killer ending the process.

The limit is RLIMIT_DATA (the process's heap and private mappings; torch and TensorRT allocate
there), set while `make` builds: `$TRTBUILD_MEMORY_LIMIT_GB`, default 90% of physical memory,
`0` for none. An allocation past it raises MemoryError (Python, and C++'s bad_alloc through the
bindings) or torch's "can't allocate memory" RuntimeError; `out_of_memory` recognises both.

`return_large_blocks` lowers the peak of an engine build, `imports_without_gc` the CPU time of the
imports (see there).
"""

from __future__ import annotations

import ctypes
import gc
import os
import resource
from contextlib import contextmanager
from typing import Iterator

from .errors import BuildError, InputError

ENV = "TRTBUILD_MEMORY_LIMIT_GB"
DEFAULT_SHARE = 0.9
M_MMAP_THRESHOLD = -3  # glibc's mallopt parameter number (malloc.h)
OWN_MAPPING_FROM = 128 * 1024  # glibc's initial threshold


class MemoryLimitError(BuildError):
    """The build needed more memory than its limit."""


def memory_limit() -> int | None:
    """The limit in bytes, or None for no limit."""
    text = os.environ.get(ENV)
    if text is None:
        return int(DEFAULT_SHARE * os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    try:
        gigabytes = float(text)
    except ValueError:
        raise InputError(f"${ENV}: expected a number of GB, got {text!r}") from None
    if gigabytes < 0:
        raise InputError(f"${ENV}: expected a number of GB >= 0, got {text!r}")
    return int(gigabytes * 2**30) or None


@contextmanager
def limited_memory() -> Iterator[int | None]:
    """Hold the process to `memory_limit()` for the block (never raising a limit already lower)."""
    limit = memory_limit()
    soft, hard = resource.getrlimit(resource.RLIMIT_DATA)
    if limit is not None and hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    if limit is None or (soft != resource.RLIM_INFINITY and soft <= limit):
        yield None if soft == resource.RLIM_INFINITY else soft
        return
    resource.setrlimit(resource.RLIMIT_DATA, (limit, hard))
    try:
        yield limit
    finally:
        resource.setrlimit(resource.RLIMIT_DATA, (soft, hard))


def out_of_memory(exc: BaseException) -> bool:
    return isinstance(exc, MemoryError) or (isinstance(exc, RuntimeError) and "can't allocate memory" in str(exc))


def memory_error(stage: str | None, limit: int | None) -> MemoryLimitError:
    where = f"while in stage {stage!r}" if stage else "while building"
    bound = f"its limit of {limit / 2**30:.1f} GB" if limit else "the memory available"
    return MemoryLimitError(f"out of memory {where}: the build needed more than {bound} "
                            f"(${ENV} sets the limit; default {DEFAULT_SHARE:.0%} of physical memory)")


def return_large_blocks() -> bool:
    """Have glibc's malloc keep serving blocks of 128 KiB and more from mappings of their own, which
    go back to the system when freed. By default glibc raises that threshold to the largest block
    freed so far (up to 32 MiB), so that TensorRT's multi-MiB temporaries while it builds an engine
    come from the heap, where space freed between live blocks is not given back: the peak of a cold
    resnet50 build was 18 MiB higher (no measurable change in build time). True when applied;
    False where malloc is not glibc's."""
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    return mallopt(M_MMAP_THRESHOLD, OWN_MAPPING_FROM) == 1


@contextmanager
def imports_without_gc(freeze: bool = False) -> Iterator[None]:
    """Import with the cyclic garbage collector off; with `freeze`, then move everything alive into
    the collector's permanent generation (once per process).

    torch, torch.export's machinery and model zoos create about a million long-lived objects while
    they load, and each collection during the import rescans those made so far: about 1 s of the
    5 s of CPU that a cold build spent importing. Imports make little garbage. Frozen objects are
    never scanned again; freezing only once keeps a later build's garbage from being frozen for good."""
    if not gc.isenabled():  # the caller manages the collector
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        if freeze and not gc.get_freeze_count():
            gc.freeze()
        gc.enable()
