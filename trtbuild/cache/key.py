"""Cache keys: SHA-256 of a versioned, canonical, printable document.

A recipe key covers the exported graph (ops, arguments, shapes, dtypes), a digest of every weight,
the input specs, every setting, the TensorRT flavour and exact version, the GPU target and a
digest of the compiler's source (trtbuild.compiler_digest). A segment key covers one TensorRT segment's lowered graph and its constants,
its input ranges, and the settings, backend and target that shape its engine.
"""

from __future__ import annotations

import enum
import operator
from typing import Any

import torch
import torch.fx

from .. import __version__
from ..compiler_digest import compiler_digest
from .digest import digest_doc, digest_tensor, digest_tensors

KEY_FORMAT = 1
# Settings that decide the partition but not what TensorRT builds from a given segment.
PARTITION_ONLY_SETTINGS = ("min_block_size", "torch_executed_ops", "require_full_compilation")


def _encode(value: Any, index: dict[torch.fx.Node, int]) -> Any:
    if isinstance(value, torch.fx.Node):
        return {"node": index[value]}
    if isinstance(value, (list, tuple)):
        return [_encode(v, index) for v in value]
    if isinstance(value, dict):
        return {str(k): _encode(v, index) for k, v in sorted(value.items())}
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return repr(value)  # exact and stable (json would also print inf/nan non-standardly)
    if isinstance(value, enum.Enum):
        return str(value)
    return f"{type(value).__name__}:{value}"


def _meta(node: torch.fx.Node) -> Any:
    val = node.meta.get("val")
    vals = val if isinstance(val, (tuple, list)) else [val]
    out = []
    for v in vals:
        if isinstance(v, torch.Tensor):
            out.append([str(v.dtype), [str(d) for d in v.shape]])
        else:
            out.append(str(type(v).__name__) if v is not None else None)
    return out


def describe_graph(graph: torch.fx.Graph, weight_digest: dict[str, str]) -> list[Any]:
    """One entry per node; a weight node (get_attr or lifted placeholder) is described by the
    reference given in `weight_digest` (its name for the recipe graph, its digest for a segment)."""
    index = {n: i for i, n in enumerate(graph.nodes)}
    nodes = []
    for node in graph.nodes:
        target = node.target if isinstance(node.target, str) else str(node.target)
        entry = [node.op, target if node.op in ("call_function", "call_method") else None,
                 _encode(node.args, index), _encode(node.kwargs, index), _meta(node)]
        if node.name in weight_digest:
            entry[1] = {"weight": weight_digest[node.name]}
        nodes.append(entry)
    return nodes


def program_weights(program: torch.export.ExportedProgram) -> dict[str, str]:
    """Digest of every lifted tensor (parameters, buffers, constants), by its name in the model."""
    tensors = {}
    for target in _placeholder_targets(program).values():
        source = program.state_dict if target in program.state_dict else program.constants
        tensor = source.get(target)
        if isinstance(tensor, torch.Tensor):
            tensors[target] = tensor
    return digest_tensors(tensors.items())


def _placeholder_targets(program: torch.export.ExportedProgram) -> dict[str, str]:
    return {spec.arg.name: spec.target for spec in program.graph_signature.input_specs
            if spec.target is not None and hasattr(spec.arg, "name")}


def recipe_key_doc(program: torch.export.ExportedProgram, inputs: list, settings: Any, backend: Any,
                   target: dict, weights: dict[str, str] | None = None) -> dict[str, Any]:
    by_name = program_weights(program) if weights is None else weights
    # Structure only: weights enter by name here and by value in "weights", so explain can tell them apart.
    names = {ph: f"param:{target}" for ph, target in _placeholder_targets(program).items()}
    graph = describe_graph(program.graph, names)
    return {
        "format": KEY_FORMAT,
        "trtbuild": __version__,
        "compiler": compiler_digest(),
        "graph": digest_doc(graph),
        "weights": digest_doc(sorted(by_name.items())),
        "weight_digests": dict(sorted(by_name.items())),
        "inputs": [i.describe() for i in inputs],
        "settings": settings.describe(),
        "backend": {"flavour": backend.flavour, "version": backend.version},
        "target": target,
    }


def key_of(doc: dict[str, Any]) -> str:
    """The key hashes the document minus per-tensor detail (kept only to explain changes)."""
    return digest_doc({k: v for k, v in doc.items() if k != "weight_digests"})


def segment_key_doc(segment: torch.fx.GraphModule, profiles: list, settings: Any, backend: Any,
                    target: dict, known: dict[str, str]) -> dict[str, Any]:
    """`known` maps weight names (node.meta['weight_name']) to digests computed at export time."""
    digests = {}
    for node in segment.graph.nodes:
        if node.op == "get_attr":
            name = node.meta.get("weight_name")
            digests[node.name] = known.get(name) if name in known else digest_tensor(operator.attrgetter(node.target)(segment))
    engine_settings = {k: v for k, v in settings.describe().items() if k not in PARTITION_ONLY_SETTINGS}
    return {
        "format": KEY_FORMAT,
        "trtbuild": __version__,
        "compiler": compiler_digest(),
        "graph": digest_doc(describe_graph(segment.graph, digests)),
        "profiles": profiles,
        "settings": engine_settings,
        "backend": {"flavour": backend.flavour, "version": backend.version},
        "target": target,
    }
