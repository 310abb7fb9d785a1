"""Stage timings; stage names drive progress output and the timing report.

A stage that runs long without saying anything (torch.export of a big model, a TensorRT build
phase) is announced again every `heartbeat` seconds with its elapsed time, so progress output never
goes quiet for minutes.
"""

from __future__ import annotations

import threading
import time
from contextlib import contextmanager
from typing import Callable, Iterator


class Timings:
    def __init__(self, progress: Callable[[str], None] | None = None, heartbeat: float = 30.0):
        self.seconds: dict[str, float] = {}
        self.current: str | None = None  # the stage running now, or the one that failed
        self._report = progress
        self._heartbeat = heartbeat
        self._last = ("", time.monotonic())  # the last message, and when it was shown

    def progress(self, message: str) -> None:
        self._last = (message, time.monotonic())
        if self._report is not None:
            self._report(message)

    @contextmanager
    def stage(self, name: str, detail: str = "") -> Iterator[None]:
        """Time the block under `name`; progress shows the detail too (which segment, ...)."""
        self.progress(f"{name}: {detail}" if detail else name)
        start, self.current = time.perf_counter(), name
        done = threading.Event()
        if self._report is not None:
            threading.Thread(target=self._keep_alive, args=(done, start), daemon=True).start()
        try:
            yield
            self.current = None  # after a failure it names the stage that failed
        finally:
            done.set()
            self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - start

    def _keep_alive(self, done: threading.Event, start: float) -> None:
        while not done.wait(min(self._heartbeat, 1.0)):
            message, shown = self._last
            if time.monotonic() - shown >= self._heartbeat:
                self._report(f"{message} (still running, {time.perf_counter() - start:.0f} s)")
                self._last = (message, time.monotonic())
