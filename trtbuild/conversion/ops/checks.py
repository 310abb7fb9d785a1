"""Capability checks shared by converters: pure predicates returning a reason or None."""

from __future__ import annotations

import operator

import torch.fx


def static_shapes(node: torch.fx.Node) -> str | None:
    """The converter needs every input and output dim known at build time."""
    vals = [n.meta.get("val") for n in node.all_input_nodes] + [node.meta.get("val")]
    for val in vals:
        shape = getattr(val, "shape", ())
        if any(not isinstance(d, int) for d in shape):
            return "needs static shapes"
    return None


def only_first_output_used(node: torch.fx.Node) -> str | None:
    """Multi-output ops (max_pool2d_with_indices, batch norm) where only output 0 is converted."""
    for user in node.users:
        if user.target is not operator.getitem or user.args[1] != 0:
            return "uses outputs other than the first (indices or statistics)"
    return None


def constant_arg(*names: str):
    """The named arguments must be weights (get_attr) or absent, not computed tensors."""

    def check(node: torch.fx.Node) -> str | None:
        from ..interpreter import node_args

        args = node_args(node)
        for name in names:
            value = args.get(name)
            if isinstance(value, torch.fx.Node) and value.op != "get_attr":
                return f"argument {name!r} is computed at run time; only constant weights are supported"
        return None

    check.__name__ = f"constant_{'_'.join(names)}"
    return check
