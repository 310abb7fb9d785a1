"""Stage timings; stage names drive progress output, the timing report and `make --profile`.

Besides the seconds per stage, a `Timings` keeps each stage and each TensorRT builder phase as an
event (name, category, wall-clock start, duration), which `trtbuild/profile.py` writes as a trace.
Every start and end comes from one clock, `now()`: perf_counter shifted once per process to the wall
clock. Events from worker processes line up, and an event that ends inside its parent on perf_counter
ends inside it in the trace too (reading time.time() and perf_counter separately would let a thread
switch between the two reads push a child past its parent's end).

A stage that runs long without saying anything (torch.export of a big model, a TensorRT build
phase) is announced again every `heartbeat` seconds with its elapsed time, so progress output never
goes quiet for minutes.
"""

from __future__ import annotations

import threading
import time
from contextlib import contextmanager
from typing import Any, Callable, Iterator

# TensorRT reports phases nested in "Building engine"; deeper levels are too many to print as progress
PROGRESS_PARENTS = (None, "Building engine")


_WALL_OFFSET = time.time() - time.perf_counter()


def now() -> float:
    """Seconds since the epoch, as steady as perf_counter."""
    return _WALL_OFFSET + time.perf_counter()


def event(name: str, category: str, start: float, seconds: float, **args: Any) -> dict[str, Any]:
    return {"name": name, "cat": category, "start": start, "seconds": seconds, "args": args}


class Timings:
    def __init__(self, progress: Callable[[str], None] | None = None, heartbeat: float = 30.0):
        self.seconds: dict[str, float] = {}
        self.events: list[dict[str, Any]] = []
        self.current: str | None = None  # the stage running now, or the one that failed
        self._report = progress
        self._heartbeat = heartbeat
        self._last = ("", time.monotonic())  # the last message, and when it was shown
        self._phases: dict[str, list[float]] = {}  # started, not finished (a name may nest in itself)

    def progress(self, message: str) -> None:
        self._last = (message, time.monotonic())
        if self._report is not None:
            self._report(message)

    @contextmanager
    def stage(self, name: str, detail: str = "") -> Iterator[None]:
        """Time the block under `name`; progress shows the detail too (which segment, ...)."""
        self.progress(f"{name}: {detail}" if detail else name)
        self.current = name
        start = now()
        done = threading.Event()
        if self._report is not None:
            threading.Thread(target=self._keep_alive, args=(done, start), daemon=True).start()
        try:
            yield
            self.current = None  # after a failure it names the stage that failed
        finally:
            done.set()
            seconds = now() - start
            self.seconds[name] = self.seconds.get(name, 0.0) + seconds
            self.events.append(event(name, "stage", start, seconds))

    def _keep_alive(self, done: threading.Event, start: float) -> None:
        while not done.wait(min(self._heartbeat, 1.0)):
            message, shown = self._last
            if time.monotonic() - shown >= self._heartbeat:
                self._report(f"{message} (still running, {now() - start:.0f} s)")
                self._last = (message, time.monotonic())

    # The TensorRT builder's progress monitor calls these (engine/build.py).
    def phase_start(self, name: str, parent: str | None) -> None:
        self._phases.setdefault(name, []).append(now())
        if parent in PROGRESS_PARENTS:
            self.progress(f"build: {name}")

    def phase_finish(self, name: str) -> None:
        started = self._phases.get(name, []).pop() if self._phases.get(name) else None
        if started is not None:
            self.events.append(event(name, "tensorrt", started, now() - started))
