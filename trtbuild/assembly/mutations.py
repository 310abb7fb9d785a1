"""Write mutations of user inputs back into the caller's tensors, as the eager model does.

torch.export records `x.add_(1)` on an input `x` as a functional graph plus an output that holds the
new value of `x` (USER_INPUT_MUTATION). Lowering keeps those values as the last outputs of the graph
(lowering/unlift.py); here, after partitioning, the assembled graph copies each one into its input
with `aten.copy_` and returns only the user outputs. The copies are torch ops of the top-level graph,
outside every TensorRT segment, so they survive writing and loading a build (graph_io.py stores them
like any other node). An output that eager returns as the input itself (`x.add_(1); return x`)
returns the `copy_`, which is the caller's tensor.
"""

from __future__ import annotations

import torch
import torch.fx

aten = torch.ops.aten


def write_back_inputs(gm: torch.fx.GraphModule, mutated: list[str],
                      returned: dict[int, str] | None = None) -> torch.fx.GraphModule:
    """`gm` returns (*user outputs, *new values of the inputs named in `mutated`): copy the new values
    into those inputs (placeholders of `gm`) and return the user outputs only. `returned` maps user
    output positions to the input that eager returns there (lowering/unlift.py:returned_inputs)."""
    if not mutated:
        return gm
    output = next(n for n in gm.graph.nodes if n.op == "output")
    values = list(output.args[0])
    user, new_values = values[:-len(mutated)], values[-len(mutated):]
    placeholders = {n.name: n for n in gm.graph.nodes if n.op == "placeholder"}
    copies = {}
    with gm.graph.inserting_before(output):
        for name, value in zip(mutated, new_values):
            copies[name] = gm.graph.call_function(aten.copy_.default, (placeholders[name], value))
    for position, name in (returned or {}).items():
        if name in copies:  # aten.copy_ returns its destination: the caller's own tensor
            user[position] = copies[name]
    output.args = (tuple(user),)
    gm.recompile()
    return gm
