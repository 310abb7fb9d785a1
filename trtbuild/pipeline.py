"""The compiler pipeline, stage by stage: lower -> partition -> convert -> build -> assemble.

Stage names drive progress output and the timing report. Engines are looked up per TensorRT
segment in the store (when one is given), so a change confined to one segment rebuilds only it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
import torch.fx

from .assembly.runtime import TRTEngineModule
from .assembly.signature import apply_signature, program_signature
from .cache.digest import digest_bytes
from .cache.key import key_of, segment_key_doc
from .conversion.interpreter import convert_segment
from .engine.build import build_engine
from .lowering import lower
from .partitioning import Partition, Segment, partition
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
    with timings.stage("partition"):
        part = partition(gm, settings)
    results = []
    for segment in part.segments:
        if segment.kind == "torch":
            results.append(SegmentResult(segment.name, "torch", segment.ops,
                                         fallbacks=[f.describe() for f in segment.fallbacks]))
            continue
        results.append(_engine_segment(part, segment, gm, inputs, settings, target, store,
                                       weight_digests or {}, timings))
    user_inputs = [n.name for n in gm.graph.nodes if n.op == "placeholder"]
    signature = program_signature(program, user_inputs)
    part.gm.trtbuild_signature = signature
    return Compiled(apply_signature(part.gm, signature), results, timings.seconds)


def _engine_segment(part: Partition, segment: Segment, lowered: torch.fx.GraphModule, inputs: list,
                    settings: Any, target: Target, store: Any, weight_digests: dict[str, str],
                    timings: Timings) -> SegmentResult:
    sub = part.submodule(segment)
    profiles = segment_profiles(sub, lowered, inputs)
    doc = segment_key_doc(sub, profiles, settings, target.backend, target.describe(), weight_digests)
    key = key_of(doc)
    result = SegmentResult(segment.name, "tensorrt", segment.ops, key=key, profiles=_json_profiles(profiles))
    cached = _cached_engine(store, key)
    if cached is not None:
        plan, meta = cached
        result.cache, result.inputs, result.outputs = "hit", meta["inputs"], meta["outputs"]
    else:
        with timings.stage("convert"):
            net = convert_segment(sub, target.backend, settings)
        with timings.stage("build"):
            built = build_engine(net, target.backend, settings, list(target.compute_capabilities), profiles,
                                 phases=timings)
        plan, digest = built.plan, digest_bytes(built.plan)
        result.cache, result.build_seconds = ("miss" if store is not None else None), built.seconds
        result.inputs = [s.describe() for s in net.inputs]
        result.outputs = [s.describe() for s in net.outputs]
        if store is not None:
            store.put_blob(plan, digest)
            store.put_meta("segment", key, {"key": key, "blob": digest, "bytes": len(plan), "inputs": result.inputs,
                                            "outputs": result.outputs, "key_doc": doc})
    result.engine_bytes = len(plan)
    result.engine_digest = meta["blob"] if cached is not None else digest  # a cached blob was verified on read
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
