"""Which nodes TensorRT can run, and why not for the others."""

from __future__ import annotations

import operator

import torch
import torch.fx
from torch.fx.passes.operator_support import OperatorSupportBase

from ..conversion.registry import lookup
from ..settings import CompileSettings, op_name

CONVERTIBLE_DTYPES = {torch.float32, torch.float16, torch.bfloat16, torch.int32, torch.int64, torch.bool,
                      torch.int8, torch.uint8, torch.float8_e4m3fn}


MAX_RANK = 8  # nvinfer1::Dims::MAX_DIMS
RANDOM = ("draws random numbers from torch's generator, which TensorRT's random fill cannot reproduce; "
          "in torch its values match eager")
# TensorRT computes shapes on the host from shape tensors, and a shape tensor it takes as an input needs a
# [min, max] in the profile: a value read from a computed tensor has none (a Fill sized by a cast of an
# input's data makes TensorRT demand that input be a shape tensor, with its own range)
HOST_READ = ("reads a tensor's value into a python int on the host, as .item() does: a data-dependent size, and TensorRT "
             "takes sizes only from shape tensors with a profile range, which a value read at run time has not")


def _excluded(target, settings: CompileSettings) -> bool:
    name = op_name(target)
    packet = name.rsplit(".", 1)[0]
    return name in settings.torch_executed_ops or packet in settings.torch_executed_ops


def _dtype_reason(node: torch.fx.Node, settings: CompileSettings) -> str | None:
    val = node.meta.get("val")
    vals = val if isinstance(val, (tuple, list)) else [val]
    for v in vals:
        if isinstance(v, torch.Tensor) and v.dtype not in CONVERTIBLE_DTYPES:
            if v.dtype == torch.float64 and settings.truncate_long_and_double:
                continue
            return f"output dtype {v.dtype} is not supported by TensorRT (see truncate_long_and_double)"
    return None


# node.meta key: why this node must run in torch, decided before partitioning (a lowering pass that
# keeps an op whole on purpose, or the pipeline after the node's converter failed)
FALLBACK = "trtbuild_fallback"


def mark_fallback(node: torch.fx.Node, reason: str) -> None:
    node.meta[FALLBACK] = reason


def fallback_reason(node: torch.fx.Node, settings: CompileSettings) -> str | None:
    """None when TensorRT can run `node`; otherwise why it stays in torch."""
    return _own_reason(node, settings) or _size_reason(node, settings)


def _own_reason(node: torch.fx.Node, settings: CompileSettings) -> str | None:
    """The node's reason, looking only at the node itself (and a getitem's source)."""
    if node.target is operator.getitem:
        source = node.args[0]
        return _own_reason(source, settings) if isinstance(source, torch.fx.Node) else None
    if _excluded(node.target, settings):
        return "excluded by torch_executed_ops"
    if FALLBACK in node.meta:
        return node.meta[FALLBACK]
    conv = lookup(node.target)
    if conv is None:
        return _no_converter_reason(node)
    reason = conv.unsupported_reason(node)
    if reason:
        return f"capability check failed: {reason}"
    return _dtype_reason(node, settings) or _rank_reason(node)


def _no_converter_reason(node: torch.fx.Node) -> str:
    if torch.Tag.nondeterministic_seeded in getattr(node.target, "tags", ()):
        return RANDOM
    if node.target is torch.ops.aten._local_scalar_dense.default and isinstance(node.meta.get("val"), torch.SymInt):
        return HOST_READ  # a float or bool read could stay a 0-d tensor in an engine: that one has no converter yet
    return "no converter"


def _rank_reason(node: torch.fx.Node) -> str | None:
    vals = [n.meta.get("val") for n in node.all_input_nodes] + [node.meta.get("val")]
    ranks = [v.dim() for v in vals if isinstance(v, torch.Tensor)]
    if ranks and max(ranks) > MAX_RANK:
        return f"uses a {max(ranks)}-D tensor; TensorRT tensors have at most {MAX_RANK} dims"
    return None


def _is_size(node: torch.fx.Node) -> bool:
    """A symbolic scalar: a size, or arithmetic on sizes (`x.shape[1] / 2` is a SymFloat)."""
    return isinstance(node.meta.get("val"), (torch.SymInt, torch.SymFloat, torch.SymBool))


def _size_reason(node: torch.fx.Node, settings: CompileSettings) -> str | None:
    """Sizes cannot cross a segment boundary: an engine neither takes nor returns python ints."""
    for arg in node.all_input_nodes:
        if _is_size(arg) and _own_reason(arg, settings):
            return f"uses size {arg.name}, which is computed in torch"
    if _is_size(node) and any(_own_reason(user, settings) for user in node.users if user.op != "output"):
        return "its size result is used by an op that runs in torch"
    return None


class TensorRTSupport(OperatorSupportBase):
    """The partitioner's view of `fallback_reason`, with the reasons kept for reports."""

    def __init__(self, settings: CompileSettings):
        self.settings = settings
        self.reasons: dict[torch.fx.Node, str] = {}

    def is_node_supported(self, submodules, node: torch.fx.Node) -> bool:
        if node.op != "call_function":
            return False
        reason = fallback_reason(node, self.settings)
        if reason:
            self.reasons[node] = reason
        return reason is None


class TorchRemainder(OperatorSupportBase):
    """After TensorRT blocks are fused: every remaining op node groups into torch segments."""

    def is_node_supported(self, submodules, node: torch.fx.Node) -> bool:
        if node.op != "call_function":
            return False
        source = node.args[0] if node.target is operator.getitem else None
        return not (isinstance(source, torch.fx.Node) and source.op == "call_module")
