"""`truncate_long_and_double`: int64 -> int32 and float64 -> float32 inside the engine.

Model inputs and outputs keep their dtypes (casts at the boundary). Constants are narrowed at build
time; one whose values do not fit int32 is an error naming it, never a silent wrap-around.
"""

from __future__ import annotations

import operator
from typing import Any

import torch
import torch.fx

from ..errors import InputError
from ..settings import CompileSettings

aten = torch.ops.aten
NARROW = {torch.int64: torch.int32, torch.float64: torch.float32}
INT32 = torch.iinfo(torch.int32)


def _val(node: Any) -> Any:
    return node.meta.get("val") if isinstance(node, torch.fx.Node) else None


def _wide(node: Any) -> bool:
    val = _val(node)
    return isinstance(val, torch.Tensor) and val.dtype in NARROW


def truncate_wide_types(gm: torch.fx.GraphModule, settings: CompileSettings) -> torch.fx.GraphModule:
    if not settings.truncate_long_and_double:
        return gm
    output = next(n for n in gm.graph.nodes if n.op == "output")
    for node in list(gm.graph.nodes):
        if node.op == "placeholder" and _wide(node):
            _narrow_after(gm, node)
        elif node.op == "get_attr" and _wide(node):
            _narrow_constant(gm, node)
        elif node.op == "call_function" and node.target is not operator.getitem:
            _narrow_op(node)
    _widen_outputs(gm, output)
    gm.graph.lint()
    gm.recompile()
    return gm


def _narrow_after(gm: torch.fx.GraphModule, node: torch.fx.Node) -> None:
    dtype = NARROW[_val(node).dtype]
    users = list(node.users)
    with gm.graph.inserting_after(node):
        cast = gm.graph.call_function(aten._to_copy.default, (node,), {"dtype": dtype})
    cast.meta = dict(node.meta, val=_val(node).to(dtype))
    for user in users:
        user.replace_input_with(node, cast)


def _narrow_constant(gm: torch.fx.GraphModule, node: torch.fx.Node) -> None:
    obj = operator.attrgetter(node.target)(gm)
    if obj.dtype == torch.int64 and obj.numel() and (obj.min() < INT32.min or obj.max() > INT32.max):
        name = node.meta.get("weight_name", node.target)
        raise InputError(f"truncate_long_and_double: constant {name} has values outside int32 "
                         f"([{int(obj.min())}, {int(obj.max())}]); it cannot be narrowed")
    narrowed = f"{node.target.replace('.', '_')}_narrow"
    gm.register_buffer(narrowed, obj.to(NARROW[obj.dtype]), persistent=False)
    node.target = narrowed
    node.meta["val"] = _val(node).to(NARROW[obj.dtype])


def _narrow_op(node: torch.fx.Node) -> None:
    """Ops that choose a wide dtype (dtype=, _to_copy) choose the narrow one; outputs follow."""
    dtype = node.kwargs.get("dtype")
    if dtype in NARROW:
        node.update_kwarg("dtype", NARROW[dtype])
    val = _val(node)
    if isinstance(val, torch.Tensor) and val.dtype in NARROW:
        node.meta["val"] = val.to(NARROW[val.dtype])
    for arg in node.args:
        if isinstance(arg, int) and not isinstance(arg, bool) and not INT32.min <= arg <= INT32.max:
            raise InputError(f"truncate_long_and_double: {node.name} ({node.target}) uses the constant {arg}, "
                             "which does not fit int32")


def _widen_outputs(gm: torch.fx.GraphModule, output: torch.fx.Node) -> None:
    originals = output.meta.get("trtbuild_dtypes")
    results = output.args[0]
    flat = list(results) if isinstance(results, (tuple, list)) else [results]
    for item, want in zip(flat, originals or []):
        val = _val(item)
        if isinstance(val, torch.Tensor) and want is not None and val.dtype != want:
            with gm.graph.inserting_before(output):
                cast = gm.graph.call_function(aten._to_copy.default, (item,), {"dtype": want})
            cast.meta = dict(item.meta, val=val.to(want))
            output.replace_input_with(item, cast)
