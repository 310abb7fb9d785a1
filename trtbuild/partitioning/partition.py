"""Propose, filter and fuse partitions into `trt_N` and `torch_N` submodules."""

from __future__ import annotations

import operator
from dataclasses import dataclass, field

import torch
import torch.fx
from torch.fx.passes.infra.partitioner import CapabilityBasedPartitioner
from torch.fx.passes.utils.fuser_utils import fuse_by_partitions

from ..conversion.context import describe_node, source_location
from ..errors import UnsupportedOpError
from ..settings import CompileSettings, op_name
from .support import TensorRTSupport, TorchRemainder


@dataclass
class Fallback:
    """A node left to torch and why."""

    node: str
    op: str
    reason: str
    source: str

    def describe(self) -> dict:
        return {"node": self.node, "op": self.op, "reason": self.reason, "source": self.source}


@dataclass
class Segment:
    name: str
    kind: str  # "tensorrt" | "torch"
    ops: list[str]
    fallbacks: list[Fallback] = field(default_factory=list)


@dataclass
class Partition:
    gm: torch.fx.GraphModule
    segments: list[Segment]

    def submodule(self, segment: Segment) -> torch.fx.GraphModule:
        return getattr(self.gm, segment.name)


def _is_compute(node: torch.fx.Node) -> bool:
    return node.op == "call_function" and node.target is not operator.getitem


def _with_constants(nodes: set[torch.fx.Node], order: dict[torch.fx.Node, int]) -> dict[torch.fx.Node, None]:
    """The partition in graph order, plus the get_attr nodes only it uses (their weights move into it).

    Graph order, not set order: the fused segment's node order must not depend on PYTHONHASHSEED,
    or the same segment would get a different key in every process."""
    members = set(nodes)
    for node in nodes:
        members.update(arg for arg in node.all_input_nodes
                       if arg.op == "get_attr" and all(u in nodes for u in arg.users))
    return dict.fromkeys(sorted(members, key=order.__getitem__))


def partition(gm: torch.fx.GraphModule, settings: CompileSettings) -> Partition:
    support = TensorRTSupport(settings)
    proposed = CapabilityBasedPartitioner(gm, support, allows_single_node_partition=True).propose_partitions()
    trt_blocks, fallbacks = [], {}
    for block in proposed:
        compute = [n for n in block.nodes if _is_compute(n)]
        if len(compute) >= settings.min_block_size or settings.require_full_compilation:
            trt_blocks.append(set(block.nodes))
            continue
        for node in compute:
            fallbacks[node] = (f"in a TensorRT block of {len(compute)} op(s), fewer than "
                               f"min_block_size={settings.min_block_size}")
    for node, reason in support.reasons.items():
        if _is_compute(node):
            fallbacks.setdefault(node, reason)
    if settings.require_full_compilation:
        _require_full(gm, fallbacks)
    described = {n.name: Fallback(n.name, op_name(n.target), r, source_location(n)) for n, r in fallbacks.items()}
    ops_of = {}
    order = {n: i for i, n in enumerate(gm.graph.nodes)}
    _fuse(gm, [_with_constants(b, order) for b in _topo_order(order, trt_blocks)], "trt_tmp_", ops_of)
    torch_blocks = CapabilityBasedPartitioner(gm, TorchRemainder(), allows_single_node_partition=True)
    blocks = [set(p.nodes) for p in torch_blocks.propose_partitions()]
    order = {n: i for i, n in enumerate(gm.graph.nodes)}
    _fuse(gm, [_with_constants(b, order) for b in _topo_order(order, blocks)], "torch_tmp_", ops_of)
    segments = _name_segments(gm, ops_of, described)
    gm.graph.lint()
    gm.recompile()
    return Partition(gm, segments)


def _require_full(gm: torch.fx.GraphModule, fallbacks: dict) -> None:
    if not fallbacks:
        return
    lines = [f"{describe_node(n)}: {r}" for n, r in fallbacks.items()]
    raise UnsupportedOpError("require_full_compilation is set, but these ops cannot run in TensorRT:\n  "
                             + "\n  ".join(lines))


def _topo_order(order: dict[torch.fx.Node, int], blocks: list[set]) -> list[set]:
    return sorted(blocks, key=lambda b: min(order[n] for n in b))


def _fuse(gm, blocks, prefix, ops_of) -> None:
    if not blocks:
        return
    for i, block in enumerate(blocks):
        ops_of[f"{prefix}{i}"] = [op_name(n.target) for n in block if _is_compute(n)]
    fuse_by_partitions(gm, blocks, prefix=prefix, always_return_tuple=True)


def _name_segments(gm, ops_of, described) -> list[Segment]:
    """Rename fused modules to trt_N / torch_N in execution order."""
    segments, counters = [], {"tensorrt": 0, "torch": 0}
    for node in gm.graph.nodes:
        if node.op != "call_module":
            continue
        kind = "tensorrt" if node.target.startswith("trt_tmp_") else "torch"
        name = f"{'trt' if kind == 'tensorrt' else 'torch'}_{counters[kind]}"
        counters[kind] += 1
        module = getattr(gm, node.target)
        delattr(gm, node.target)
        old = node.target
        gm.add_submodule(name, module)
        node.target = name
        node.name = name  # noqa: the call node reads as the segment
        seg_fallbacks = []
        if kind == "torch":
            seg_fallbacks = [described[n.name] for n in module.graph.nodes if n.name in described]
        segments.append(Segment(name, kind, ops_of[old], seg_fallbacks))
    return segments
