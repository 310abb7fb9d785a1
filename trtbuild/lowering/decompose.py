"""The decomposition table: torch.export's defaults, minus every op we convert whole.

Keeping an op whole (layer_norm, gelu, linear, scaled_dot_product_attention, ...) lets TensorRT
use its fused layer instead of rebuilding it from elementwise pieces.

Two kinds of node make `run_decompositions` (its functionalization) fail, so they are rewritten
first, on a copy of the program's graph: an op whose output aliases its input without being a view
(`prims.broadcast_in_dim`), and `resize_`, whose mutation of its input torch.export does not record.
"""

from __future__ import annotations

import copy

import torch
import torch.fx

from ..conversion.registry import all_converters
from .inplace import needs_decomposition

aten, prims = torch.ops.aten, torch.ops.prims


def decomposition_table() -> dict:
    table = torch.export.default_decompositions()
    for op in all_converters():
        if isinstance(op, torch._ops.OpOverload):  # python operators (size arithmetic) are not in the table
            table.pop(op, None)
    return table


def decompose(program: torch.export.ExportedProgram) -> torch.export.ExportedProgram:
    if not needs_decomposition(program):
        return program  # functionalize_inplace rewrites the in-place ops after unlifting
    return functionalizable(program).run_decompositions(decomposition_table())


def _call(graph: torch.fx.Graph, node: torch.fx.Node, target, *args, **kwargs) -> torch.fx.Node:
    """A new node computing target(*args) in place of `node`, with its metadata (stack trace) and value."""
    new = graph.call_function(target, args, kwargs)
    new.meta = {k: v for k, v in node.meta.items() if k not in ("val", "tensor_meta")}
    new.meta["val"] = target(*torch.fx.node.map_arg(args, lambda n: n.meta["val"]),
                             **torch.fx.node.map_arg(kwargs, lambda n: n.meta["val"]))
    return new


def _broadcast_in_dim(graph: torch.fx.Graph, node: torch.fx.Node) -> torch.fx.Node:
    """prims.broadcast_in_dim(x, shape, dims) = x with a size-1 dim at every position not in dims,
    expanded to shape."""
    x, shape, dims = node.args
    for d in range(len(shape)):
        if d not in dims:
            x = _call(graph, node, aten.unsqueeze.default, x, d)
    return _call(graph, node, aten.expand.default, x, shape)


def _resize(graph: torch.fx.Graph, node: torch.fx.Node) -> torch.fx.Node:
    """The functional resize: a new tensor (later readers of the input read it instead)."""
    return _call(graph, node, aten.resize.default, *node.args, **node.kwargs)


REWRITES = {prims.broadcast_in_dim.default: _broadcast_in_dim, aten.resize_.default: _resize}


def functionalizable(program: torch.export.ExportedProgram) -> torch.export.ExportedProgram:
    """`program`, or a copy (sharing its weights) with the REWRITES applied."""
    if not any(n.target in REWRITES for n in program.graph.nodes):
        return program
    gm = torch.fx.GraphModule(program.graph_module, copy.deepcopy(program.graph))
    signature = copy.deepcopy(program.graph_signature)
    order = {n: i for i, n in enumerate(gm.graph.nodes)}
    for node in list(gm.graph.nodes):
        if node.target not in REWRITES:
            continue
        with gm.graph.inserting_before(node):
            replacement = REWRITES[node.target](gm.graph, node)
        source = node.args[0]
        if node.target is aten.resize_.default:  # the input itself changed: later readers read the result
            for user in list(source.users):
                if order.get(user, -1) > order[node]:
                    user.replace_input_with(source, replacement)
        node.replace_all_uses_with(replacement)
        for spec in signature.output_specs:  # outputs are named after their nodes
            if getattr(spec.arg, "name", None) == node.name:
                spec.arg.name = replacement.name
        gm.graph.erase_node(node)
    gm.recompile()
    return program._update(gm, signature)
