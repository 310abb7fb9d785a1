"""Constant folding: evaluate, at build time, what the graph computes from its weights alone."""

from __future__ import annotations

import operator

import torch
import torch.fx

from ..views import permuted_storage
from .inplace import folded_alias_groups
from .passes import constant_nodes, foldable, returns_alias, writes_input


def fold_constants(gm: torch.fx.GraphModule, settings=None) -> torch.fx.GraphModule:
    """Evaluate weight-only subgraphs (a transposed weight, an attention mask) once, in graph order.

    Writes into such tensors (see `folded_alias_groups`) run in place on the real tensors, so views
    share storage as in eager torch. A folded node that something outside the fold reads becomes a
    buffer, taken only after every write ran: its final value, which is what those readers see."""
    constant = {n for n in gm.graph.nodes if n.op == "get_attr"}
    aliased = folded_alias_groups(gm.graph, constant_nodes(gm.graph, constant))
    values: dict[torch.fx.Node, torch.Tensor] = {}
    for node in gm.graph.nodes:
        if not foldable(node, constant) or (writes_input(node) and node not in aliased):
            continue
        raw = node in aliased  # a view that is written through must stay a view
        args, kwargs = torch.fx.node.map_arg((node.args, node.kwargs), lambda n: _value(gm, n, values, raw))
        values[node] = node.target(*args, **kwargs)
        constant.add(node)
    for count, node in enumerate(n for n in values if any(u not in values for u in n.users)):
        name = f"folded_{count}"
        gm.register_buffer(name, _stored(node, values), persistent=False)
        with gm.graph.inserting_before(node):
            attr = gm.graph.get_attr(name)
        attr.meta = dict(node.meta)
        node.replace_all_uses_with(attr, delete_user_cb=lambda user: user not in values)
    for node in reversed(list(values)):  # writes are impure: dead-code elimination keeps them
        if not node.users:
            gm.graph.erase_node(node)
    gm.graph.eliminate_dead_code()
    return gm


def _stored(node: torch.fx.Node, values: dict) -> torch.Tensor:
    """A folded value as the graph keeps it: contiguous, except a large transpose of a weight
    (`x @ w.t()`), which stays a view of the weight so that the model does not hold it twice;
    conversion hands TensorRT the weight's own bytes and the permutation (`views.permuted_storage`).
    A view op reading it outside the fold gets the contiguous copy: `view` needs one."""
    value = values[node].detach()
    read_as_view = any(returns_alias(user.target) for user in node.users if user not in values)
    return value if permuted_storage(value) is not None and not read_as_view else value.contiguous()


def _value(gm: torch.fx.GraphModule, node: torch.fx.Node, values: dict, raw: bool) -> torch.Tensor:
    if node not in values and node.op != "get_attr":  # the x of x.new_zeros: only its dtype matters
        return torch.empty((), dtype=node.meta["val"].dtype)
    if node in values:
        # remove_noops dropped the clones that made views contiguous (e.g. permute -> view of a bias table)
        return values[node] if raw else values[node].contiguous()
    return operator.attrgetter(node.target)(gm)
