"""Stage timings; stage names drive progress output, the timing report and `make --profile`.

Besides the seconds per stage, a `Timings` keeps each stage and each TensorRT builder phase as an
event (name, category, wall-clock start, duration), which `trtbuild/profile.py` writes as a trace.
Starts are wall-clock so that events from worker processes line up; durations use perf_counter.
"""

from __future__ import annotations

import time
from contextlib import contextmanager
from typing import Any, Callable, Iterator

# TensorRT reports phases nested in "Building engine"; deeper levels are too many to print as progress
PROGRESS_PARENTS = (None, "Building engine")


def event(name: str, category: str, start: float, seconds: float, **args: Any) -> dict[str, Any]:
    return {"name": name, "cat": category, "start": start, "seconds": seconds, "args": args}


class Timings:
    def __init__(self, progress: Callable[[str], None] | None = None):
        self.seconds: dict[str, float] = {}
        self.events: list[dict[str, Any]] = []
        self.progress = progress or (lambda stage: None)
        self._phases: dict[str, list[tuple[float, float]]] = {}  # started, not finished (a name may nest in itself)

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        self.progress(name)
        wall, start = time.time(), time.perf_counter()
        try:
            yield
        finally:
            seconds = time.perf_counter() - start
            self.seconds[name] = self.seconds.get(name, 0.0) + seconds
            self.events.append(event(name, "stage", wall, seconds))

    # The TensorRT builder's progress monitor calls these (engine/build.py).
    def phase_start(self, name: str, parent: str | None) -> None:
        self._phases.setdefault(name, []).append((time.time(), time.perf_counter()))
        if parent in PROGRESS_PARENTS:
            self.progress(f"build: {name}")

    def phase_finish(self, name: str) -> None:
        started = self._phases.get(name, []).pop() if self._phases.get(name) else None
        if started is not None:
            self.events.append(event(name, "tensorrt", started[0], time.perf_counter() - started[1]))
