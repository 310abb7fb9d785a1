"""Skip torch.export's re-trace when the exported graph is already what the converters take.

`run_decompositions` re-traces the whole program (about as long as the export itself) to
functionalize it and decompose ops. For most inference graphs neither is needed: every op has a
converter, and the only mutations are in-place activations on fresh intermediates (`relu_`,
`add_`), which are safe to rewrite as their functional forms, or writes into a tensor the graph builds
from constants alone (swin's shifted-window mask), which fold_constants runs eagerly at build time.
`needs_decomposition` decides conservatively; anything unusual takes the full path.
"""

from __future__ import annotations

import operator

import torch
import torch.fx

from ..conversion.registry import lookup
from .passes import (
    ASSERT_OPS,
    alias_group,
    constant_nodes,
    is_noop,
    returns_alias,
    writes_input,
)

aten = torch.ops.aten


def _functional(op: torch._ops.OpOverload) -> torch._ops.OpOverload | None:
    """`aten.relu.default` for `aten.relu_.default`; None when `op` is not an in-place op."""
    name = op._opname
    if not name.endswith("_") or name.startswith("_"):
        return None
    packet = getattr(aten, name[:-1], None)
    return getattr(packet, op._overloadname, None) if packet is not None else None


def _fresh(node: torch.fx.Node) -> bool:
    """A tensor no other tensor aliases: an op's new output, or a safe in-place op's (`relu_(add_(...))`)."""
    if node.op != "call_function":
        return False
    if not returns_alias(node.target):
        return True
    return _functional(node.target) is not None and _safe_inplace(node)


def _safe_inplace(node: torch.fx.Node) -> bool:
    """An in-place op on a fresh intermediate that nothing else aliases: rewriting it is exact."""
    target = node.args[0] if node.args else None
    if not isinstance(target, torch.fx.Node) or not _fresh(target):
        return False
    return not any(returns_alias(user.target) and _functional(user.target) is None
                   for user in target.users if user is not node)


def folded_alias_groups(graph: torch.fx.Graph, constant: set[torch.fx.Node]) -> set[torch.fx.Node]:
    """The tensors that fold_constants builds and writes into eagerly (with their views and writes),
    where torch's own views get aliasing right; `constant` is `constant_nodes(graph, weights)`.

    A group is a fresh tensor computed from the weights alone and everything that views it or
    writes into it, e.g. `m = x.new_zeros(56, 56); m[:49, :49].fill_(1)`. Every node of the group
    must be constant, and whatever reads the group from outside it must see its final value: a
    reader that runs in the engine, or that lowering drops as a no-op (a `clone`), must come after
    the group's last write. A constant reader before it is evaluated in order, and is fine.
    """
    order = {n: i for i, n in enumerate(graph.nodes)}
    folded: set[torch.fx.Node] = set()
    for base in graph.nodes:
        if base.op != "call_function" or base not in constant or returns_alias(base.target):
            continue
        group = alias_group(base)
        writes = [order[n] for n in group if writes_input(n)]
        if not writes or not group <= constant:
            continue
        readers = {user for n in group for user in n.users if user not in group}
        if all(order[r] > max(writes) or (r in constant and not is_noop(r)) for r in readers):
            folded |= group
    return folded


def _weights(program: torch.export.ExportedProgram) -> set[torch.fx.Node]:
    signature = program.graph_signature
    names = {*signature.inputs_to_parameters, *signature.inputs_to_buffers,
             *signature.inputs_to_lifted_tensor_constants}
    return {n for n in program.graph.nodes if n.op == "placeholder" and n.name in names}


def needs_decomposition(program: torch.export.ExportedProgram) -> bool:
    signature = program.graph_signature
    if signature.buffers_to_mutate or signature.user_inputs_to_mutate:
        return True
    constant = constant_nodes(program.graph, _weights(program))  # fold_constants computes these at build time
    folded = folded_alias_groups(program.graph, constant)
    for node in program.graph.nodes:
        if node.op != "call_function" or node.target is operator.getitem:
            continue
        if not isinstance(node.target, torch._ops.OpOverload):
            return True  # higher-order ops, effect tokens, ...
        if is_noop(node) or (node.target in ASSERT_OPS and not node.users):
            continue  # remove_noops drops it (an eval-mode dropout_ mutates nothing)
        if writes_input(node):
            functional = _functional(node.target)
            if node not in folded and (functional is None or not _safe_inplace(node)
                                              or lookup(functional) is None):
                return True
        elif lookup(node.target) is None and node not in constant:
            return True  # a decomposition might turn it into ops we convert
    return False


def functionalize_inplace(gm: torch.fx.GraphModule, settings=None) -> torch.fx.GraphModule:
    """`y = relu_(x)` -> `y = relu(x)`, and later readers of x read y."""
    order = {n: i for i, n in enumerate(gm.graph.nodes)}
    folded = folded_alias_groups(gm.graph, constant_nodes(gm.graph, {n for n in gm.graph.nodes if n.op == "get_attr"}))
    for node in list(gm.graph.nodes):
        if node.op != "call_function" or not isinstance(node.target, torch._ops.OpOverload):
            continue
        if node in folded:
            continue  # fold_constants runs it in place
        functional = _functional(node.target)
        if functional is None:
            continue
        source = node.args[0]
        node.target = functional
        for user in list(source.users):
            if user is not node and order[user] > order[node]:
                user.replace_input_with(source, node)
    gm.recompile()
    return gm
