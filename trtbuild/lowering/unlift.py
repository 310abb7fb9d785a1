"""Turn an ExportedProgram's lifted parameters, buffers and constants back into get_attr nodes.

Converters then see weights as constants (folded into TensorRT layers) and user inputs as the only
placeholders. Buffer mutations are dropped (inference only). Mutations of user inputs are kept as
extra outputs after the user outputs, their input names in the output node's meta under
`INPUT_MUTATIONS`: the assembled module copies them back into the caller's tensors, as eager does
(assembly/mutations.py). A user output that is such an input itself (`x.add_(1); return x`) is
recorded under `RETURNED_INPUTS`, so that the assembled module returns the caller's own tensor there.
"""

from __future__ import annotations

import torch
import torch.fx
from torch.export.graph_signature import InputKind, OutputKind

from ..errors import ModelError

INPUT_MUTATIONS = "trtbuild_input_mutations"
RETURNED_INPUTS = "trtbuild_returned_inputs"


def unlift(program: torch.export.ExportedProgram, returned: dict[int, str] | None = None) -> torch.fx.GraphModule:
    """`returned`: `returned_inputs` of the program as exported (before decomposition hid it)."""
    signature = program.graph_signature
    kinds = {spec.arg.name: spec for spec in signature.input_specs if hasattr(spec.arg, "name")}
    root = torch.nn.Module()
    graph = torch.fx.Graph()
    env: dict[torch.fx.Node, torch.fx.Node] = {}
    used_names: set[str] = set()
    for node in program.graph.nodes:
        if node.op == "placeholder":
            spec = kinds.get(node.name)
            if spec is None or spec.kind == InputKind.USER_INPUT:
                env[node] = graph.node_copy(node)
                continue
            if spec.kind not in (InputKind.PARAMETER, InputKind.BUFFER, InputKind.CONSTANT_TENSOR):
                raise ModelError(f"exported program input {node.name} of kind {spec.kind.name} is not supported")
            tensor = _lifted_tensor(program, spec)
            name = _attr_name(spec.target, used_names)
            root.register_buffer(name, tensor.detach(), persistent=False)
            new = graph.get_attr(name)
            new.meta = dict(node.meta)
            new.meta["weight_name"] = spec.target
            env[node] = new
        elif node.op == "output":
            outputs = node.args[0]
            specs = list(zip(outputs, signature.output_specs))
            user = [out for out, spec in specs if spec.kind == OutputKind.USER_OUTPUT]
            mutated = [(out, spec.target) for out, spec in specs if spec.kind == OutputKind.USER_INPUT_MUTATION]
            values = user + [out for out, _ in mutated]
            result = graph.output(tuple(torch.fx.node.map_arg(values, lambda n: env[n])))
            result.meta[INPUT_MUTATIONS] = [name for _, name in mutated]
            result.meta[RETURNED_INPUTS] = returned or {}
        else:
            env[node] = graph.node_copy(node, lambda n: env[n])
    return torch.fx.GraphModule(root, graph)


def returned_inputs(program: torch.export.ExportedProgram) -> dict[int, str]:
    """{position among the user outputs: user input name} for outputs that are a user input itself.

    Read off the program as exported, before decomposition: there `x.add_(1); return x` returns the
    in-place node, which returns its `self`. After functionalization that output is a new value,
    indistinguishable from `y = x + 1; x.copy_(y); return y`, where eager returns `y`, not `x`."""
    user_inputs = {spec.arg.name for spec in program.graph_signature.input_specs
                   if spec.kind == InputKind.USER_INPUT and hasattr(spec.arg, "name")}
    output = next(n for n in program.graph.nodes if n.op == "output")
    specs = zip(output.args[0], program.graph_signature.output_specs)
    user = [out for out, spec in specs if spec.kind == OutputKind.USER_OUTPUT]
    returned = {}
    for position, node in enumerate(user):
        while isinstance(node, torch.fx.Node) and node.op == "call_function" and _returns_its_self(node.target):
            node = node.args[0]
        if isinstance(node, torch.fx.Node) and node.op == "placeholder" and node.name in user_inputs:
            returned[position] = node.name
    return returned


def _returns_its_self(op) -> bool:
    """An in-place op (`x.add_(1)`, `x.copy_(y)`): it writes its first argument and returns it. Not an
    out= variant, which returns `out`."""
    schema = getattr(op, "_schema", None)
    if schema is None or not schema.returns or not schema.arguments:
        return False
    returned, first = schema.returns[0].alias_info, schema.arguments[0].alias_info
    return returned is not None and first is not None and first.is_write and returned.before_set == first.before_set


def _lifted_tensor(program: torch.export.ExportedProgram, spec) -> torch.Tensor:
    if spec.target in program.state_dict:
        return program.state_dict[spec.target]
    if spec.target in program.constants:
        return program.constants[spec.target]
    raise ModelError(f"exported program has no tensor for {spec.target}")


def _attr_name(target: str, used: set[str]) -> str:
    base = "w_" + "".join(c if c.isalnum() else "_" for c in target)
    name, n = base, 1
    while name in used:
        n += 1
        name = f"{base}_{n}"
    used.add(name)
    return name
