"""Optimization profiles: (min, opt, max) shapes of every engine input, from the model's input ranges.

A segment input deep inside the model has sizes that are expressions of the model's input dims
(e.g. `s0 // 2`); each expression is evaluated at the min, opt and max of the symbols it uses.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.fx

from .errors import BuildError


def _symbol_ranges(lowered: torch.fx.GraphModule, inputs: list) -> dict[Any, tuple[int, int, int]]:
    ranges = {}
    placeholders = [n for n in lowered.graph.nodes if n.op == "placeholder"]
    for node, spec in zip(placeholders, inputs):
        val = node.meta.get("val")
        for d, size in enumerate(getattr(val, "shape", ())):
            if isinstance(size, torch.SymInt) and size.node.expr.is_Symbol:
                ranges[size.node.expr] = (spec.min_shape[d], spec.opt_shape[d], spec.max_shape[d])
    return ranges


def _at(size: Any, ranges: dict, which: int) -> int:
    if isinstance(size, int):
        return size
    expr = size.node.expr
    return int(expr.subs({sym: r[which] for sym, r in ranges.items()}))


def _unbounded(node: torch.fx.Node, ranges: dict) -> BuildError | None:
    """A segment input whose size is not a function of the model's input dims (it depends on data, e.g.
    on a value read in torch): no profile can bound it, so its first reader must run in torch."""
    for size in node.meta["val"].shape:
        unknown = set() if isinstance(size, int) else size.node.expr.free_symbols - ranges.keys()
        if unknown:
            reader = next((u for u in node.users if u.op == "call_function"), None)
            reason = (f"its input {node.name} has a data-dependent size ({size.node.expr}); an engine input "
                      "needs a size range from the model's input dims")
            return BuildError(f"{reader.name if reader else node.name}: {reason}", node=reader and reader.name,
                              reason=reason)
    return None


def segment_profiles(segment: torch.fx.GraphModule, lowered: torch.fx.GraphModule, inputs: list) -> list[dict]:
    """One profile for the segment's inputs, or none when every input is static."""
    ranges = _symbol_ranges(lowered, inputs)
    profile, dynamic = {}, False
    for node in segment.graph.nodes:
        if node.op != "placeholder":
            continue
        error = _unbounded(node, ranges)
        if error:
            raise error
        shape = node.meta["val"].shape
        lo, opt, hi = ([_at(s, ranges, i) for s in shape] for i in range(3))
        dynamic = dynamic or lo != hi or any(not isinstance(s, int) for s in shape)
        profile[node.name] = (lo, opt, hi)
    return [profile] if dynamic else []
