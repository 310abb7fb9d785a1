"""`make --profile FILE`: the build as Chrome Trace Event JSON, as Bazel writes its profiles.

One track (thread) per recipe, named after it; on it a complete event ("ph": "X") for the whole
recipe, one per stage inside it (load, import, export, lower, partition, convert, build, write, ...),
and one per TensorRT builder phase inside "build". Perfetto and chrome://tracing open the file.
Format: https://docs.google.com/document/d/1CvAClvFfyA5R-PhYUmn5OOQtYMH4h6I0nSsKchNAySU
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from .errors import InputError


def trace_events(results: list[Any]) -> list[dict[str, Any]]:
    """Trace events for the results of one `make` (each with `.name` and `.events`)."""
    starts = [e["start"] for r in results for e in r.events]
    origin = min(starts) if starts else 0.0
    pid = os.getpid()
    events: list[dict[str, Any]] = [{"name": "process_name", "ph": "M", "pid": pid, "tid": 0,
                                     "args": {"name": "trtbuild make"}}]
    for tid, result in enumerate(results, start=1):
        events.append({"name": "thread_name", "ph": "M", "pid": pid, "tid": tid, "args": {"name": result.name}})
        events.append({"name": "thread_sort_index", "ph": "M", "pid": pid, "tid": tid, "args": {"sort_index": tid}})
        # longest first: a viewer nests events with equal starts in the order it reads them
        for e in sorted(result.events, key=lambda e: (e["start"], -e["seconds"])):
            events.append({"name": e["name"], "cat": e["cat"], "ph": "X", "pid": pid, "tid": tid,
                           "ts": round((e["start"] - origin) * 1e6, 1), "dur": round(e["seconds"] * 1e6, 1),
                           "args": e["args"]})
    return events


def write_profile(path: Path, results: list[Any]) -> None:
    doc = {"traceEvents": trace_events(results), "displayTimeUnit": "ms",
           "otherData": {"tool": "trtbuild make", "recipes": [r.name for r in results]}}
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(doc, indent=0) + "\n")
    except OSError as exc:
        raise InputError(f"--profile {path}: cannot write it: {exc.strerror or exc}") from None
