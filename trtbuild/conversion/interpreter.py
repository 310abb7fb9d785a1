"""Walk one FX segment of aten ops and fill a TensorRT network with the registered converters."""

from __future__ import annotations

import operator
import time
from dataclasses import dataclass
from typing import Any, Callable

import torch
import torch.fx
from torch.fx.operator_schemas import normalize_function

from ..errors import ConversionError, UnsupportedOpError
from .context import CapturingLogger, ConversionContext, describe_node
from .registry import lookup


@dataclass
class TensorSpec:
    """A network input or output: name, torch dtype and dims (-1 where dynamic). `size` marks an output
    that is a python int in the graph (a symbolic size the model returns): a 0-d tensor in the engine."""

    name: str
    dtype: torch.dtype
    shape: tuple[int, ...]
    size: bool = False

    def describe(self) -> dict[str, Any]:
        described = {"name": self.name, "dtype": str(self.dtype).removeprefix("torch."), "shape": list(self.shape)}
        return {**described, "size": True} if self.size else described


@dataclass
class Network:
    """A filled network plus everything that must stay alive until it is built."""

    network: Any
    builder: Any
    logger: CapturingLogger
    context: ConversionContext
    inputs: list[TensorSpec]
    outputs: list[TensorSpec]


def node_args(node: torch.fx.Node, args: tuple | None = None, kwargs: dict | None = None) -> dict[str, Any]:
    """The node's arguments by schema name, defaults filled in (`self` is called `input`)."""
    args = node.args if args is None else args
    kwargs = node.kwargs if kwargs is None else kwargs
    normalized = normalize_function(node.target, args, kwargs, normalize_to_only_use_kwargs=True)
    if normalized is None:
        reason = "cannot match arguments to the op's schema"
        raise ConversionError(f"{describe_node(node)}: {reason}", node=node.name, reason=reason)
    return normalized.kwargs


def _placeholder_spec(node: torch.fx.Node) -> TensorSpec:
    val = node.meta.get("val")
    if not isinstance(val, torch.Tensor):
        raise ConversionError(f"segment input {node.name} is not a tensor ({type(val).__name__})")
    shape = tuple(int(d) if isinstance(d, int) else -1 for d in val.shape)
    return TensorSpec(node.name, val.dtype, shape)


def convert_segment(gm: torch.fx.GraphModule, backend: Any, settings: Any,
                    progress: Callable[[str], None] | None = None) -> Network:
    """Fill a new strongly typed network from `gm`; inputs in placeholder order, outputs in output order.

    `progress` hears which node is being converted, every few seconds (a huge segment takes minutes)."""
    trt = backend.trt
    logger = CapturingLogger(trt)
    builder = trt.Builder(logger.logger)
    network = builder.create_network(_network_flags(trt))
    ctx = ConversionContext(trt, network, logger, settings)
    env: dict[torch.fx.Node, Any] = {}
    inputs: list[TensorSpec] = []
    report = _throttled(progress, len(gm.graph.nodes))
    for i, node in enumerate(gm.graph.nodes):
        report(i, node)
        ctx.begin_node(node)
        if node.op == "placeholder":
            spec = _placeholder_spec(node)
            env[node] = network.add_input(spec.name, ctx.trt_dtype(spec.dtype), spec.shape)
            inputs.append(spec)
        elif node.op == "get_attr":
            env[node] = operator.attrgetter(node.target)(gm)
        elif node.op == "call_function":
            env[node] = _convert_node(ctx, node, env)
            ctx.end_node()
        elif node.op == "output":
            outputs = _mark_outputs(ctx, node, env)
    return Network(network, builder, logger, ctx, inputs, outputs)


def _throttled(progress: Callable[[str], None] | None, total: int, every: float = 5.0) -> Callable:
    last = time.monotonic()

    def report(i: int, node: torch.fx.Node) -> None:
        nonlocal last
        if progress is not None and time.monotonic() - last >= every:
            last = time.monotonic()
            progress(f"node {i + 1}/{total}: {node.name} ({node.target})")

    return report


def _network_flags(trt: Any) -> int:
    flag = getattr(trt.NetworkDefinitionCreationFlag, "STRONGLY_TYPED", None)
    return 0 if flag is None else 1 << int(flag)


def _convert_node(ctx: ConversionContext, node: torch.fx.Node, env: dict) -> Any:
    resolved = torch.fx.node.map_arg((node.args, node.kwargs), lambda n: env[n])
    args, kwargs = resolved
    if node.target is operator.getitem:
        return args[0][args[1]]
    conv = lookup(node.target)
    if conv is None:
        raise UnsupportedOpError(f"{describe_node(node)}: no converter for {node.target}")
    reason = conv.unsupported_reason(node)
    if reason:
        raise UnsupportedOpError(f"{describe_node(node)}: {reason}")
    try:
        if not isinstance(node.target, torch._ops.OpOverload):  # python operators on sizes: no schema
            return conv.fn(ctx, node, *args, **kwargs)
        return conv.fn(ctx, node, **node_args(node, args, kwargs))
    except ConversionError:
        raise
    except Exception as exc:  # a converter bug or a TensorRT API error: name the node either way
        first_line = (str(exc).strip().splitlines() or [""])[0]  # pybind's TypeErrors go on to dump tensors
        raise ctx.error(f"converter {conv.name} failed: {type(exc).__name__}: {first_line}") from exc


def _mark_outputs(ctx: ConversionContext, node: torch.fx.Node, env: dict) -> list[TensorSpec]:
    results = node.args[0]
    flat = list(results) if isinstance(results, (tuple, list)) else [results]
    specs, marked = [], set()
    for i, item in enumerate(flat):
        tensor = ctx.tensor(env[item]) if isinstance(item, torch.fx.Node) else ctx.tensor(item)
        # A network input or an already-marked tensor cannot be marked again: copy it.
        if tensor.is_network_input or id(tensor) in marked or tensor.name in marked:
            tensor = ctx.identity(tensor)
        name = f"output_{i}"
        tensor.name = name
        ctx.network.mark_output(tensor)
        marked.add(name)
        size = isinstance(item, torch.fx.Node) and isinstance(item.meta.get("val"), torch.SymInt)
        specs.append(TensorSpec(name, ctx.dtype_of(tensor), tuple(tensor.shape), size))
    return specs
