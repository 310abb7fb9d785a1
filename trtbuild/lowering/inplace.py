"""Skip torch.export's re-trace when the exported graph is already what the converters take.

`run_decompositions` re-traces the whole program (about as long as the export itself) to
functionalize it and decompose ops. For most inference graphs neither is needed: every op has a
converter, and the only mutations are in-place activations on fresh intermediates (`relu_`,
`add_`), which are safe to rewrite as their functional forms. `needs_decomposition` decides
conservatively; anything unusual takes the full path.
"""

from __future__ import annotations

import operator

import torch
import torch.fx

from ..conversion.registry import lookup
from .passes import ASSERT_OPS, is_noop

aten = torch.ops.aten


def _functional(op: torch._ops.OpOverload) -> torch._ops.OpOverload | None:
    """`aten.relu.default` for `aten.relu_.default`; None when `op` is not an in-place op."""
    name = op._opname
    if not name.endswith("_") or name.startswith("_"):
        return None
    packet = getattr(aten, name[:-1], None)
    return getattr(packet, op._overloadname, None) if packet is not None else None


def _aliases(op) -> bool:
    return isinstance(op, torch._ops.OpOverload) and any(r.alias_info is not None for r in op._schema.returns)


def _fresh(node: torch.fx.Node) -> bool:
    """A tensor no other tensor aliases: an op's new output, or a safe in-place op's (`relu_(add_(...))`)."""
    if node.op != "call_function":
        return False
    if not _aliases(node.target):
        return True
    return _functional(node.target) is not None and _safe_inplace(node)


def _safe_inplace(node: torch.fx.Node) -> bool:
    """An in-place op on a fresh intermediate that nothing else aliases: rewriting it is exact."""
    target = node.args[0] if node.args else None
    if not isinstance(target, torch.fx.Node) or not _fresh(target):
        return False
    return not any(_aliases(user.target) and _functional(user.target) is None
                   for user in target.users if user is not node)


def _source(node: torch.fx.Node) -> bool:
    """A deterministic op with no inputs (`zeros([2, 3])`, an RNN's initial state): fold_constants
    computes it at build time, whatever it would decompose into."""
    tags = getattr(node.target, "tags", ())
    return not node.all_input_nodes and torch.Tag.nondeterministic_seeded not in tags


def needs_decomposition(program: torch.export.ExportedProgram) -> bool:
    signature = program.graph_signature
    if signature.buffers_to_mutate or signature.user_inputs_to_mutate:
        return True
    for node in program.graph.nodes:
        if node.op != "call_function" or node.target is operator.getitem:
            continue
        if not isinstance(node.target, torch._ops.OpOverload):
            return True  # higher-order ops, effect tokens, ...
        if is_noop(node) or (node.target in ASSERT_OPS and not node.users):
            continue  # remove_noops drops it (an eval-mode dropout_ mutates nothing)
        functional = _functional(node.target)
        if functional is not None:
            if not _safe_inplace(node) or lookup(functional) is None:
                return True
        elif lookup(node.target) is None and not is_noop(node) and not _source(node):
            return True  # a decomposition might turn it into ops we convert
    return False


def functionalize_inplace(gm: torch.fx.GraphModule, settings=None) -> torch.fx.GraphModule:
    """`y = relu_(x)` -> `y = relu(x)`, and later readers of x read y."""
    order = {n: i for i, n in enumerate(gm.graph.nodes)}
    for node in list(gm.graph.nodes):
        if node.op != "call_function" or not isinstance(node.target, torch._ops.OpOverload):
            continue
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
