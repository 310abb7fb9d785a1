"""A safe, pickle-free file format for FX graphs of aten ops (torch fallback segments).

The graph is JSON: nodes with their op, target and arguments. Targets may only be torch operator
overloads (`aten.relu.default`, `aten.sym_size.int`, ...) or `operator.getitem`, so loading a graph
can never run arbitrary code. Tensors (weights) go to safetensors.
"""

from __future__ import annotations

import operator
from typing import Any

import torch
import torch.fx
from safetensors.torch import load as load_safetensors
from safetensors.torch import save as save_safetensors

from ..errors import TrtbuildError
from ..views import view_key

FORMAT = 1
_SCALAR_TYPES = (bool, int, float, str, type(None))


class GraphFormatError(TrtbuildError):
    pass


def _encode(value: Any) -> Any:
    if isinstance(value, torch.fx.Node):
        return {"node": value.name}
    if isinstance(value, tuple):
        return {"tuple": [_encode(v) for v in value]}
    if isinstance(value, list):
        return [_encode(v) for v in value]
    if isinstance(value, float) and (value != value or value in (float("inf"), float("-inf"))):
        return {"float": repr(value)}
    if isinstance(value, _SCALAR_TYPES):
        return value
    if isinstance(value, torch.dtype):
        return {"dtype": str(value).removeprefix("torch.")}
    if isinstance(value, torch.device):
        return {"device": str(value)}
    if isinstance(value, torch.memory_format):
        return {"memory_format": str(value).removeprefix("torch.")}
    if isinstance(value, torch.layout):
        return {"layout": str(value).removeprefix("torch.")}
    raise GraphFormatError(f"cannot serialize argument {value!r} of type {type(value).__name__}")


def _decode(value: Any, env: dict[str, torch.fx.Node]) -> Any:
    if isinstance(value, list):
        return [_decode(v, env) for v in value]
    if not isinstance(value, dict):
        return value
    (kind, payload), = value.items()
    if kind == "node":
        return env[payload]
    if kind == "tuple":
        return tuple(_decode(v, env) for v in payload)
    if kind == "float":
        return float(payload)
    if kind == "dtype":
        return _torch_attr(payload, torch.dtype)
    if kind == "device":
        return torch.device(payload)
    if kind == "memory_format":
        return _torch_attr(payload, torch.memory_format)
    if kind == "layout":
        return _torch_attr(payload, torch.layout)
    raise GraphFormatError(f"unknown argument kind {kind!r}")


def _torch_attr(name: str, kind: type) -> Any:
    value = getattr(torch, name, None)
    if not isinstance(value, kind):
        raise GraphFormatError(f"{name!r} is not a torch {kind.__name__}")
    return value


def _target_name(target: Any) -> str:
    if target is operator.getitem:
        return "operator.getitem"
    if isinstance(target, torch._ops.OpOverload):
        return str(target)
    raise GraphFormatError(f"cannot serialize call target {target!r}: only torch ops are allowed")


def _resolve_target(name: str) -> Any:
    if name == "operator.getitem":
        return operator.getitem
    namespace, op, overload = (name.split(".") + ["", "", ""])[:3]
    try:
        target = getattr(getattr(getattr(torch.ops, namespace), op), overload)
    except (AttributeError, RuntimeError):
        raise GraphFormatError(f"unknown op {name!r}") from None
    if not isinstance(target, torch._ops.OpOverload):
        raise GraphFormatError(f"{name!r} is not a torch op overload")
    return target


def _unshared(tensors: dict[str, torch.Tensor]) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """(tensors to write, aliases): safetensors refuses tensors that share memory (tied weights, folded
    constants that are views of one weight). The same view under two names is written once and the
    second name becomes an alias; a different view of memory already written is copied."""
    written, aliases, seen_views, seen_storages = {}, {}, {}, set()
    for name, tensor in sorted(tensors.items()):
        view = view_key(tensor)
        if view in seen_views:
            aliases[name] = seen_views[view]
            continue
        seen_views[view] = name
        storage = tensor.untyped_storage().data_ptr()
        if storage in seen_storages:
            tensor = tensor.clone()
        seen_storages.add(storage)
        written[name] = tensor
    return written, aliases


def dump_graph(gm: torch.fx.GraphModule) -> tuple[dict[str, Any], bytes]:
    """(JSON-ready graph, safetensors bytes of its attributes)."""
    nodes, tensors = [], {}
    for node in gm.graph.nodes:
        entry: dict[str, Any] = {"name": node.name, "op": node.op}
        if node.op == "call_function":
            entry["target"] = _target_name(node.target)
        elif node.op in ("get_attr", "call_module"):
            entry["target"] = node.target
            if node.op == "get_attr":
                tensors[node.target] = operator.attrgetter(node.target)(gm).detach().contiguous()
        entry["args"] = _encode(node.args)
        entry["kwargs"] = {k: _encode(v) for k, v in node.kwargs.items()}
        nodes.append(entry)
    tensors, aliases = _unshared(tensors)
    weights = save_safetensors(tensors) if tensors else b""
    return {"format": FORMAT, "nodes": nodes, **({"aliases": aliases} if aliases else {})}, weights


def load_graph(doc: dict[str, Any], weights: bytes, submodules: dict[str, torch.nn.Module] | None = None,
               ) -> torch.fx.GraphModule:
    if doc.get("format") != FORMAT:
        raise GraphFormatError(f"unsupported graph format {doc.get('format')!r}")
    root = torch.nn.Module()
    tensors = load_safetensors(weights) if weights else {}
    for alias, name in doc.get("aliases", {}).items():
        if name not in tensors:
            raise GraphFormatError(f"alias {alias!r} names a missing tensor {name!r}")
        tensors[alias] = tensors[name]
    for name, tensor in tensors.items():
        _register(root, name, tensor)
    for name, module in (submodules or {}).items():
        root.add_module(name, module)
    graph = torch.fx.Graph()
    env: dict[str, torch.fx.Node] = {}
    for entry in doc["nodes"]:
        args = _decode(entry["args"], env)
        kwargs = {k: _decode(v, env) for k, v in entry["kwargs"].items()}
        op = entry["op"]
        if op not in ("placeholder", "output", "get_attr", "call_module", "call_function"):
            raise GraphFormatError(f"unsupported node kind {op!r}")
        target = {"placeholder": entry["name"], "output": "output", "call_function": None}.get(op)
        if op == "call_function":
            target = _resolve_target(entry["target"])
        elif target is None:
            target = entry["target"]
        env[entry["name"]] = graph.create_node(op, target, tuple(args), kwargs, name=entry["name"])
    gm = torch.fx.GraphModule(root, graph)
    return gm


def _register(root: torch.nn.Module, name: str, tensor: torch.Tensor) -> None:
    *path, leaf = name.split(".")
    module = root
    for part in path:
        if not hasattr(module, part):
            module.add_module(part, torch.nn.Module())
        module = getattr(module, part)
    module.register_buffer(leaf, tensor, persistent=False)
