"""The machine a benchmark ran on: cores, CPU model, RAM, load, library versions (no torch import)."""

from __future__ import annotations

import importlib.metadata
import os
import platform
import sys
from typing import Any


def cpu_model() -> str | None:
    try:
        with open("/proc/cpuinfo") as handle:
            for line in handle:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or None


def ram_gib() -> float | None:
    try:
        with open("/proc/meminfo") as handle:
            for line in handle:
                if line.startswith("MemTotal:"):
                    return round(int(line.split()[1]) / (1 << 20), 1)
    except OSError:
        pass
    return None


def _version(dist: str) -> str | None:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def load() -> list[float] | None:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


def machine() -> dict[str, Any]:
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count()
    tensorrt = {name: _version(name) for name in ("tensorrt_rtx", "tensorrt")}
    return {
        "cores": os.cpu_count(),
        "usable_cores": usable,
        "cpu": cpu_model(),
        "ram_gib": ram_gib(),
        "os": f"{platform.system()} {platform.release()}",
        "python": sys.version.split()[0],
        "torch": _version("torch"),
        "torchvision": _version("torchvision"),
        "tensorrt": {k: v for k, v in tensorrt.items() if v},
        "trtbuild": _version("trtbuild"),
        "load_at_start": load(),
    }


def describe(m: dict[str, Any]) -> str:
    trt = ", ".join(f"{k} {v}" for k, v in m.get("tensorrt", {}).items()) or "no TensorRT"
    return (f"{m.get('cpu') or 'unknown CPU'}, {m.get('cores')} cores ({m.get('usable_cores')} usable), "
            f"{m.get('ram_gib')} GiB RAM; Python {m.get('python')}, torch {m.get('torch')}, "
            f"torchvision {m.get('torchvision')}, {trt}")
