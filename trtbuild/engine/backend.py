"""The one place that knows which TensorRT flavour we run on.

Standard `tensorrt` and `tensorrt_rtx` share the network and builder API. What differs is kept
here: the import, how GPU targets are chosen and described, and which GPUs can run an engine.
"""

from __future__ import annotations

import functools
import importlib
import importlib.metadata
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from ..errors import BuildError, EngineUnavailableError, InputError

FLAVOURS = ("tensorrt", "tensorrt_rtx")
DISTRIBUTIONS = {"tensorrt": ("tensorrt", "tensorrt-cu13", "tensorrt-cu12"),
                 "tensorrt_rtx": ("tensorrt-rtx", "tensorrt_rtx_cu13")}
# TensorRT-RTX runs engines on these compute capabilities only (it refuses Hopper, 9.0).
RTX_RUNNABLE = {(8, 0), (8, 6), (8, 9), (12, 0), (12, 1)}
# The AOT targets (`ComputeCapability` members) of each TensorRT-RTX release, so that a recipe is
# checked at load without importing TensorRT (2 s); tests/engine compares this with the installed enum.
RTX_TARGETS = {"1.7": ("7.5", "8.0", "8.6", "8.9", "12.0", "12.1")}
BF16_MIN_CC = "8.0"  # bfloat16 arithmetic needs Ampere or newer


@dataclass(frozen=True)
class Backend:
    flavour: str
    trt: ModuleType

    @property
    def version(self) -> str:
        return str(getattr(self.trt, "__version__", "unknown"))

    @property
    def is_rtx(self) -> bool:
        return self.flavour == "tensorrt_rtx"

    def target(self, compute_capabilities: list[str]) -> dict[str, Any]:
        """The GPU target as it enters the cache key."""
        if self.is_rtx:
            return {"compute_capabilities": list(compute_capabilities) or ["default"]}
        name, cc = _cuda_device()
        if name is None:
            raise BuildError("standard TensorRT builds for the local GPU, and this host has no CUDA device; "
                             "install tensorrt-rtx for ahead-of-time builds without a GPU")
        return {"device": name, "compute_capability": cc}

    def configure_target(self, config: Any, compute_capabilities: list[str]) -> None:
        if not (self.is_rtx and compute_capabilities):
            return
        config.num_compute_capabilities = len(compute_capabilities)
        for i, cc in enumerate(compute_capabilities):
            sm = getattr(self.trt.ComputeCapability, "SM" + cc.replace(".", ""), None)
            if sm is None:
                raise InputError(f"target.compute_capabilities: {cc} is not a {self.flavour} {self.version} target")
            config.set_compute_capability(sm, i)

    def check_runnable(self, compute_capabilities: list[str]) -> None:
        """Raise `EngineUnavailableError` saying why this host cannot run an engine."""
        name, cc = _cuda_device()
        if name is None:
            raise EngineUnavailableError(
                f"cannot run a TensorRT engine here: no CUDA device is available ({self.flavour} {self.version}). "
                "Engines built on this machine run on a supported NVIDIA GPU; to check numerics without one, "
                "use reference execution (trtbuild.set_reference(module)) or `trtbuild verify`.")
        major, minor = (int(p) for p in cc.split("."))
        if self.is_rtx and (major, minor) not in RTX_RUNNABLE:
            raise EngineUnavailableError(
                f"cannot run a TensorRT-RTX engine on {name} (compute capability {cc}): TensorRT-RTX runs on "
                f"compute capability {', '.join(f'{a}.{b}' for a, b in sorted(RTX_RUNNABLE))}")
        if self.is_rtx and compute_capabilities and cc not in compute_capabilities:
            raise EngineUnavailableError(
                f"this engine was built for compute capability {', '.join(compute_capabilities)}, "
                f"but {name} is {cc}; add {cc} to target.compute_capabilities")


def _cuda_device() -> tuple[str | None, str | None]:
    import torch

    if not torch.cuda.is_available():
        return None, None
    major, minor = torch.cuda.get_device_capability()
    return torch.cuda.get_device_name(), f"{major}.{minor}"


def _installed(flavour: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(flavour) is not None


@functools.cache
def get_backend(preference: str = "auto") -> Backend:
    """The TensorRT flavour: standard `tensorrt` when installed (or asked for), else `tensorrt_rtx`."""
    order = FLAVOURS if preference == "auto" else (preference,)
    for flavour in order:
        if _installed(flavour):
            try:
                return Backend(flavour, importlib.import_module(flavour))
            except Exception as exc:  # a stub wheel or missing libraries: try the next flavour
                last = exc
                continue
    detail = f" ({last})" if "last" in locals() else ""
    wanted = "tensorrt or tensorrt_rtx" if preference == "auto" else preference
    raise BuildError(f"TensorRT is not importable: install {wanted} (pip install tensorrt-rtx){detail}")


def known_compute_capabilities(preference: str = "auto") -> tuple[str, tuple[str, ...] | None]:
    """(flavour, the compute capabilities it can target) for the backend `preference` picks, read
    without importing TensorRT; None when this release is not in the table (checked at build instead).
    Standard TensorRT builds for the local GPU only: it targets none."""
    order = FLAVOURS if preference == "auto" else (preference,)
    flavour = next((f for f in order if _installed(f)), order[-1])
    if flavour == "tensorrt":
        return flavour, ()
    version = installed_version(flavour) or ""
    return flavour, RTX_TARGETS.get(".".join(version.split(".")[:2]))


def installed_version(flavour: str) -> str | None:
    """The installed distribution version, read without importing TensorRT (for the fast path)."""
    for dist in DISTRIBUTIONS.get(flavour, ()):
        try:
            return importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            continue
    return None
