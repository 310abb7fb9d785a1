"""Build a serialized engine from a filled network: builder config, profiles, targets."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from typing import Any

from ..conversion.interpreter import Network
from ..errors import BuildError
from ..settings import CompileSettings
from .backend import Backend

# (min, opt, max) shape per network input name
Profile = dict[str, tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]]]


@dataclass
class BuiltEngine:
    plan: bytes
    seconds: float


def _progress_monitor(trt: Any, phases: Any) -> Any:
    """Pass the builder's phases on to `phases` (a `trtbuild.timing.Timings`)."""
    class Monitor(trt.IProgressMonitor):
        def __init__(self) -> None:
            trt.IProgressMonitor.__init__(self)

        def phase_start(self, phase, parent, num_steps):
            phases.phase_start(phase, parent)

        def step_complete(self, name, step):
            return True  # never cancel

        def phase_finish(self, name):
            phases.phase_finish(name)

    return Monitor()


def build_engine(net: Network, backend: Backend, settings: CompileSettings, compute_capabilities: list[str],
                 profiles: list[Profile], phases: Any = None) -> BuiltEngine:
    trt = backend.trt
    config = net.builder.create_builder_config()
    if settings.workspace_size:
        config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, settings.workspace_size)
    if settings.optimization_level is not None:
        config.builder_optimization_level = settings.optimization_level
    backend.configure_target(config, compute_capabilities)
    for profile in profiles:
        trt_profile = net.builder.create_optimization_profile()
        for name, (lo, opt, hi) in profile.items():
            trt_profile.set_shape(name, lo, opt, hi)
        config.add_optimization_profile(trt_profile)
    if phases is not None:
        monitor = _progress_monitor(trt, phases)
        config.progress_monitor = monitor
    start = time.perf_counter()
    plan = net.builder.build_serialized_network(net.network, config)
    seconds = time.perf_counter() - start
    errors = net.logger.take_errors()
    if plan is None:
        message = "TensorRT could not build the engine: " + ("; ".join(errors) or "no message")
        raise BuildError(message, node=blamed_node(net.network, errors))
    return BuiltEngine(bytes(plan), seconds)


def blamed_node(network: Any, errors: list[str]) -> str | None:
    """The FX node whose layers TensorRT's errors name, when they name exactly one (layers are
    named `<node>/<n>`; see ConversionContext.add); None when the failure is not one node's."""
    nodes = {network.get_layer(i).name: network.get_layer(i).metadata for i in range(network.num_layers)}
    named = {nodes[token] for token in re.findall(r"[\w.]+/\d+", " ".join(errors)) if token in nodes}
    return named.pop() if len(named) == 1 else None
