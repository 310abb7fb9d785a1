"""Stage timings; stage names drive progress output and the timing report."""

from __future__ import annotations

import time
from contextlib import contextmanager
from typing import Callable, Iterator


class Timings:
    def __init__(self, progress: Callable[[str], None] | None = None):
        self.seconds: dict[str, float] = {}
        self.progress = progress or (lambda stage: None)

    @contextmanager
    def stage(self, name: str, detail: str = "") -> Iterator[None]:
        """Time the block under `name`; progress shows the detail too (which segment, ...)."""
        self.progress(f"{name}: {detail}" if detail else name)
        start = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - start
