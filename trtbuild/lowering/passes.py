"""Clean-up passes run after decomposition. Each is `(gm, settings) -> gm`."""

from __future__ import annotations

import operator

import torch
import torch.fx
from torch.fx.experimental.symbolic_shapes import statically_known_true

from .quantize import KEEP_UNFOLDED

aten = torch.ops.aten

# Ops that return their input unchanged in an inference graph.
IDENTITY_OPS = {
    aten.clone.default, aten.alias.default, aten.detach.default, aten.lift_fresh_copy.default,
    aten.contiguous.default,
}
# Ops with no output that only check metadata at trace time.
ASSERT_OPS = {aten._assert_tensor_metadata.default, aten._assert_scalar.default,
              aten.sym_constrain_range_for_size.default}


def _same_shape(a, b) -> bool:
    """Without guarding: `==` on symbolic sizes would specialize them (a dynamic batch becomes 2)."""
    return len(a) == len(b) and all(statically_known_true(x == y) for x, y in zip(a, b))


def is_noop(node: torch.fx.Node) -> bool:
    if node.op != "call_function":
        return False
    if node.target in IDENTITY_OPS:
        return True
    if node.target in (aten.dropout.default, aten.dropout_.default):  # in eval mode, in place or not
        return not node.args[2] if len(node.args) > 2 else not node.kwargs.get("train", False)
    val, src = node.meta.get("val"), node.args[0] if node.args else None
    src_val = src.meta.get("val") if isinstance(src, torch.fx.Node) else None
    if not (isinstance(val, torch.Tensor) and isinstance(src_val, torch.Tensor)):
        return False
    same = _same_shape(val.shape, src_val.shape) and val.dtype == src_val.dtype
    if node.target in (aten.view.default, aten._unsafe_view.default, aten.reshape.default,
                       aten.expand.default, aten._to_copy.default):
        return same and (node.target is not aten._to_copy.default or val.device == src_val.device)
    return False


def writes_input(node: torch.fx.Node) -> bool:
    schema = getattr(node.target, "_schema", None)
    return schema is not None and schema.is_mutable


def returns_alias(op) -> bool:
    return isinstance(op, torch._ops.OpOverload) and any(r.alias_info is not None for r in op._schema.returns)


def alias_group(base: torch.fx.Node) -> set[torch.fx.Node]:
    """`base` and every node that views it or writes into it through a view, transitively."""
    group, todo = {base}, [base]
    while todo:
        for user in todo.pop().users:
            if user not in group and returns_alias(user.target) and user.args and user.args[0] in group:
                group.add(user)
                todo.append(user)
    return group


def remove_noops(gm: torch.fx.GraphModule, settings=None) -> torch.fx.GraphModule:
    """Drop identity ops (clone, eval-mode dropout, same-shape views, ...) and trace-time asserts."""
    for node in list(gm.graph.nodes):
        if node.op == "call_function" and node.target in ASSERT_OPS and not node.users:
            gm.graph.erase_node(node)
        elif is_noop(node) and not any(writes_input(n) for n in alias_group(node)):
            # (a copy that is then written into is not a no-op: fold_constants runs the writes on it)
            node.replace_all_uses_with(node.args[0])
            gm.graph.erase_node(node)
    gm.graph.eliminate_dead_code()
    return gm


# `x.new_zeros(size)` reads only x's dtype and device: with static sizes it is a constant whatever x is.
NEW_TENSOR_OPS = {aten.new_zeros.default, aten.new_ones.default, aten.new_full.default, aten.new_empty.default}


def data_inputs(node: torch.fx.Node) -> list[torch.fx.Node]:
    inputs = node.all_input_nodes
    return [n for n in inputs if n is not node.args[0]] if node.target in NEW_TENSOR_OPS else inputs


def foldable(node: torch.fx.Node, constant: set) -> bool:
    """An op fold_constants can evaluate at build time: deterministic, one tensor out, constant inputs."""
    if node.op != "call_function" or node.target is operator.getitem or node.target in KEEP_UNFOLDED:
        return False
    tags = getattr(node.target, "tags", ())
    if torch.Tag.nondeterministic_seeded in tags or "_assert" in str(node.target):
        return False
    return all(n in constant for n in data_inputs(node)) and isinstance(node.meta.get("val"), torch.Tensor)


def constant_nodes(graph: torch.fx.Graph, roots: set[torch.fx.Node]) -> set[torch.fx.Node]:
    """`roots` (the weights) and every node computed from them alone."""
    constant = set(roots)
    for node in graph.nodes:
        if foldable(node, constant):
            constant.add(node)
    return constant


def split_shared_constants(gm: torch.fx.GraphModule, settings=None) -> torch.fx.GraphModule:
    """Give each user of a weight its own get_attr node, so partitions never share one."""
    for node in list(gm.graph.nodes):
        if node.op != "get_attr" or len(node.users) < 2:
            continue
        for user in list(node.users)[1:]:
            with gm.graph.inserting_before(user):
                copy = gm.graph.get_attr(node.target)
            copy.meta = dict(node.meta)
            user.replace_input_with(node, copy)
    return gm


def record_output_dtypes(gm: torch.fx.GraphModule, settings=None) -> torch.fx.GraphModule:
    """Remember the model's output dtypes: passes that change dtypes inside restore them at the end."""
    output = next(n for n in gm.graph.nodes if n.op == "output")
    results = output.args[0]
    flat = list(results) if isinstance(results, (tuple, list)) else [results]
    output.meta["trtbuild_dtypes"] = [getattr(n.meta.get("val"), "dtype", None) if isinstance(n, torch.fx.Node)
                                      else None for n in flat]
    return gm


def split_shared_sizes(gm: torch.fx.GraphModule, settings=None) -> torch.fx.GraphModule:
    """Give each user of a symbolic size its own copy of the size's computation.

    An engine takes and returns tensors, never python ints: a size computed in one segment cannot
    feed another. With one user each, a size always lands in its user's segment. Reverse order, so
    that copies made for later nodes are themselves split when their inputs are visited."""
    for node in reversed(list(gm.graph.nodes)):
        if not isinstance(node.meta.get("val"), (torch.SymInt, torch.SymFloat, torch.SymBool)) or len(node.users) < 2:
            continue
        for user in list(node.users)[1:]:
            with gm.graph.inserting_before(user):
                copy = gm.graph.node_copy(node)
            user.replace_input_with(node, copy)
    return gm
