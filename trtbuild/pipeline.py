"""The compiler pipeline, stage by stage: lower -> partition -> convert -> build -> assemble.

Stage names drive progress output and the timing report. Engines are looked up per TensorRT
segment in the store (when one is given), so a change confined to one segment rebuilds only it.
"""

from __future__ import annotations

import copy
import operator
from dataclasses import dataclass, field
from typing import Any, Callable

import torch
import torch.fx

from .assembly.mutations import write_back_inputs
from .assembly.runtime import TRTEngineModule
from .assembly.signature import apply_signature, program_signature
from .cache.digest import digest_bytes
from .cache.key import key_of, segment_key_doc
from .conversion.interpreter import convert_segment
from .engine.build import build_engine
from .errors import BuildError
from .lowering import lower
from .lowering.unlift import INPUT_MUTATIONS, RETURNED_INPUTS
from .partitioning import Partition, Segment, partition
from .partitioning.support import FALLBACK, mark_fallback
from .profiles import segment_profiles
from .timing import Timings

@dataclass
class SegmentResult:
    name: str
    kind: str
    ops: list[str]
    key: str | None = None
    cache: str | None = None  # "hit" | "miss" | None (torch segments)
    build_seconds: float = 0.0
    engine_bytes: int = 0
    engine_digest: str | None = None
    inputs: list[dict] = field(default_factory=list)
    outputs: list[dict] = field(default_factory=list)
    profiles: list[dict] = field(default_factory=list)
    fallbacks: list[dict] = field(default_factory=list)

    def report(self) -> dict[str, Any]:
        return {"name": self.name, "kind": self.kind, "key": self.key, "cache": self.cache,
                "build_seconds": round(self.build_seconds, 3), "engine_bytes": self.engine_bytes,
                "nodes": len(self.ops), "fallbacks": self.fallbacks}


@dataclass
class Compiled:
    module: torch.fx.GraphModule
    segments: list[SegmentResult]
    timings: dict[str, float]


@dataclass(frozen=True)
class Target:
    """Where engines will run: the backend and its GPU targets."""

    backend: Any
    compute_capabilities: tuple[str, ...] = ()

    def describe(self) -> dict[str, Any]:
        return self.backend.target(list(self.compute_capabilities))


def compile_program(program: torch.export.ExportedProgram, inputs: list, settings: Any, target: Target, *,
                    store: Any = None, weight_digests: dict[str, str] | None = None,
                    timings: Timings | None = None) -> Compiled:
    timings = timings or Timings()
    with timings.stage("lower"):
        gm = lower(program, settings)
    built: dict[str, tuple[bytes, dict]] = {}  # engines of this call by segment key: a retry rebuilds none

    def make_segment(part: Partition, segment: Segment) -> SegmentResult:
        if segment.kind == "torch":
            return SegmentResult(segment.name, "torch", segment.ops,
                                 fallbacks=[f.describe() for f in segment.fallbacks])
        return _engine_segment(part, segment, gm, inputs, settings, target, store, weight_digests or {},
                               timings, built)

    part, results = _settle(gm, settings, make_segment, timings)
    output_meta = next(n for n in gm.graph.nodes if n.op == "output").meta
    write_back_inputs(part.gm, output_meta.get(INPUT_MUTATIONS, []), output_meta.get(RETURNED_INPUTS))
    user_inputs = [n.name for n in gm.graph.nodes if n.op == "placeholder"]
    signature = program_signature(program, user_inputs)
    part.gm.trtbuild_signature = signature
    return Compiled(apply_signature(part.gm, signature), results, timings.seconds)


def plan_partition(lowered: torch.fx.GraphModule, settings: Any, backend: Any) -> Partition:
    """The partition `compile_program` would build from `lowered` (left as it is): TensorRT segments are
    converted, not built, so a node whose converter fails shows up in torch with the error as its reason."""

    def convert_only(part: Partition, segment: Segment) -> None:
        if segment.kind == "tensorrt":
            convert_segment(part.submodule(segment), backend, settings)

    return _settle(lowered, settings, convert_only, Timings())[0]


def _settle(lowered: torch.fx.GraphModule, settings: Any, make_segment: Callable[[Partition, Segment], Any],
            timings: Timings) -> tuple[Partition, list]:
    """Partition `lowered` and make every segment. When a TensorRT segment fails on one node (its
    converter raised, or TensorRT rejected its layers), that node is left to torch with the error as
    the reason and the graph is partitioned again: a node torch can run never fails a build.
    (Under require_full_compilation the next partition refuses it, naming the node.)"""
    while True:
        with timings.stage("partition"):
            part = partition(_copy(lowered), settings)
        try:
            return part, [make_segment(part, segment) for segment in part.segments]
        except BuildError as exc:
            node = _failed_node(lowered, exc)
            mark_fallback(node, exc.reason)
            timings.progress(f"partition: {node.name} ({node.target}) falls back to torch: {exc.reason}")


def _failed_node(lowered: torch.fx.GraphModule, exc: BuildError) -> torch.fx.Node:
    """The node of `lowered` to leave to torch for `exc`; re-raises when there is none to blame."""
    node = next((n for n in lowered.graph.nodes if n.name == exc.node), None) if exc.node else None
    if node is not None and node.target is operator.getitem:  # a multi-output op: its source failed
        node = node.args[0]
    if node is None or node.op != "call_function" or FALLBACK in node.meta:
        raise exc
    return node


def _copy(gm: torch.fx.GraphModule) -> torch.fx.GraphModule:
    """A copy to partition (partitioning rewrites the graph in place); tensors and node metadata are shared."""
    return torch.fx.GraphModule(gm, copy.deepcopy(gm.graph))


def _engine_segment(part: Partition, segment: Segment, lowered: torch.fx.GraphModule, inputs: list,
                    settings: Any, target: Target, store: Any, weight_digests: dict[str, str],
                    timings: Timings, built: dict[str, tuple[bytes, dict]]) -> SegmentResult:
    sub = part.submodule(segment)
    profiles = segment_profiles(sub, lowered, inputs)
    doc = segment_key_doc(sub, profiles, settings, target.backend, target.describe(), weight_digests)
    key = key_of(doc)
    result = SegmentResult(segment.name, "tensorrt", segment.ops, key=key, profiles=_json_profiles(profiles))
    cached = built.get(key) or _cached_engine(store, key)
    if cached is not None:
        plan, meta = cached
        result.cache, result.inputs, result.outputs = "hit", meta["inputs"], meta["outputs"]
    else:
        where = f"{segment.name} ({len(segment.ops)} ops)"
        with timings.stage("convert", where):
            net = convert_segment(sub, target.backend, settings,
                                  progress=lambda at: timings.progress(f"convert: {segment.name} {at}"))
        with timings.stage("build", where):
            built_engine = build_engine(net, target.backend, settings, list(target.compute_capabilities), profiles,
                                        phases=timings)
        plan, digest = built_engine.plan, digest_bytes(built_engine.plan)
        result.cache, result.build_seconds = ("miss" if store is not None else None), built_engine.seconds
        result.inputs = [s.describe() for s in net.inputs]
        result.outputs = [s.describe() for s in net.outputs]
        meta = {"key": key, "blob": digest, "bytes": len(plan), "inputs": result.inputs,
                "outputs": result.outputs, "key_doc": doc}
        if store is not None:
            store.put_blob(plan, digest)
            store.put_meta("segment", key, meta)
        built[key] = plan, meta
    result.engine_bytes = len(plan)
    result.engine_digest = meta["blob"]  # a cached blob was verified on read
    module = TRTEngineModule(plan, result.inputs, result.outputs, flavour=target.backend.flavour,
                             compute_capabilities=list(target.compute_capabilities), key=key,
                             profiles=result.profiles, segment=sub, settings=settings)
    delattr(part.gm, segment.name)
    part.gm.add_submodule(segment.name, module)
    return result


def _json_profiles(profiles: list[dict]) -> list[dict]:
    return [{name: [list(s) for s in shapes] for name, shapes in p.items()} for p in profiles]


def _cached_engine(store: Any, key: str) -> tuple[bytes, dict] | None:
    if store is None:
        return None
    meta = store.get_meta("segment", key)
    if meta is None:
        return None
    plan = store.get_blob(meta.get("blob", ""))
    return None if plan is None else (plan, meta)
