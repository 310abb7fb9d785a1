"""A reference evaluator: run a TensorRT network definition on the CPU with torch.

`evaluate(network, inputs)` walks the layers of an `INetworkDefinition` in dependency order and
computes each one with torch, so a network can be checked numerically on a machine that cannot run
an engine. It is written from TensorRT's documented layer semantics, not from our converters, so a
converter bug is not mirrored here.

Dtypes: every layer output is cast to the dtype TensorRT declares for it. Float16 and bfloat16
layers are computed in float32 (their inputs are upcast losslessly) and the result is rounded to
the declared dtype once per layer; TensorRT may round intermediate values differently, so compare
half-precision results with a half-precision tolerance.

Shapes: after each layer the computed output shape is compared with TensorRT's inferred shape
(dynamic `-1` dims are skipped); a mismatch raises `EvaluationError` naming the layer and the FX
node stored in `layer.metadata`.

Weights: weights read back as numpy are copied into torch tensors. BF16 and FP8 (and INT4) weights read
back opaque; pass their source tensors in `weights=`, keyed by the layer name for a Constant layer
and by "<layer name>:<attribute>" for the weights of other layers ("conv1:kernel", "conv1:bias",
"scale1:shift", ...). A layer whose weights cannot be read and are not in `weights=` raises
`EvaluationError`.

Handlers live in `layers/`, one module per layer family.

Loops (`loops.py`) run their interior once per iteration; only COUNT trip limits are evaluated.

Unsupported: layer types without a handler (LRN, conditionals, plugins, ...) raise `EvaluationError`
naming the type; so does a handler that cannot read an attribute on the installed TensorRT version.
Fill RANDOM_UNIFORM / RANDOM_NORMAL produce values from torch's generator (seeded), not TensorRT's:
only their shape, dtype and range are meaningful.
"""

from __future__ import annotations

from graphlib import CycleError, TopologicalSorter
from typing import Any

import torch

from .layers import HANDLERS, EvaluationError, describe
from .loops import Loop, find_loops, run_loop

__all__ = ["EvaluationError", "evaluate"]


_DTYPES = {"FLOAT": torch.float32, "HALF": torch.float16, "BF16": torch.bfloat16, "INT32": torch.int32,
           "INT64": torch.int64, "BOOL": torch.bool, "INT8": torch.int8, "UINT8": torch.uint8,
           "FP8": torch.float8_e4m3fn}


def _torch_dtype(trt_dtype: Any) -> torch.dtype:
    """The torch dtype of a `trt.DataType`; EvaluationError for types torch cannot hold (FP8, INT4, ...)."""
    try:
        return _DTYPES[trt_dtype.name]
    except KeyError:
        raise EvaluationError(f"TensorRT data type {trt_dtype.name} has no torch equivalent") from None


def evaluate(network, inputs: dict[str, torch.Tensor], *, trt=None,
             weights: dict[str, torch.Tensor] | None = None) -> dict[str, torch.Tensor]:
    """Evaluate every layer of a TensorRT INetworkDefinition on the CPU with torch, return the network outputs by name.

    `inputs` maps each network input name to a tensor; it is cast to the input's declared dtype and
    its shape must match the declared one (dynamic dims accept any size). `weights` supplies weights
    TensorRT reads back opaque (BF16): see the module docstring for the keys.
    """
    if trt is None:
        from ..engine.backend import get_backend

        trt = get_backend().trt
    ev = _Evaluation(trt, dict(weights or {}))
    values: dict[str, torch.Tensor] = {}
    for i in range(network.num_inputs):
        tensor = network.get_input(i)
        if tensor.name not in inputs:
            raise EvaluationError(f"no value given for network input {tensor.name!r}")
        value = torch.as_tensor(inputs[tensor.name]).detach().cpu().to(_torch_dtype(tensor.dtype))
        _check_shape(value, tuple(tensor.shape), f"network input {tensor.name!r}")
        values[tensor.name] = value
    for unit in _schedule(trt, network):
        if isinstance(unit, Loop):
            run_loop(unit, ev, values)
            for out in unit.boundary["LOOP_OUTPUT"]:
                tensor = out.get_output(0)
                values[tensor.name] = values[tensor.name].to(_torch_dtype(tensor.dtype))
                _check_shape(values[tensor.name], tuple(tensor.shape), f"{describe(out)} [LOOP_OUTPUT]")
        else:
            ev.run(*unit, values)
    return {network.get_output(i).name: values[network.get_output(i).name] for i in range(network.num_outputs)}


def _check_shape(value: torch.Tensor, expected: tuple[int, ...], what: str) -> None:
    got = tuple(value.shape)
    if len(got) != len(expected) or any(e != -1 and e != g for g, e in zip(got, expected)):
        raise EvaluationError(f"{what}: computed shape {list(got)} but TensorRT infers {list(expected)}")


def _schedule(trt, network) -> list[Any]:
    """Layers, and loops as single units, sorted so that each comes after the producers of its inputs
    (a loop's back edges stay inside it)."""
    layers = [(layer, layer.type) for layer in map(network.get_layer, range(network.num_layers))]  # type before any downcast
    loops, in_loop = find_loops(trt, layers)
    units: dict[Any, Any] = {i: layers[i] for i in range(len(layers)) if i not in in_loop}
    units.update({f"loop {loop.name}": loop for loop in loops})
    producer = {}
    for key, unit in units.items():
        for layer in unit.layers if isinstance(unit, Loop) else [unit[0]]:
            producer.update({layer.get_output(j).name: key for j in range(layer.num_outputs)})
    graph = {}
    for key, unit in units.items():
        reads = unit.external_inputs() if isinstance(unit, Loop) else [t for t in _inputs(unit[0]) if t is not None]
        graph[key] = {producer[t.name] for t in reads if t.name in producer} - {key}
    try:
        return [units[key] for key in TopologicalSorter(graph).static_order()]
    except CycleError as exc:
        cycle = ", ".join(describe(units[k][0]) if not isinstance(units[k], Loop) else k for k in exc.args[1])
        raise EvaluationError(f"the network has a dependency cycle through {cycle}") from None


def _inputs(layer) -> list[Any]:
    return [layer.get_input(j) for j in range(layer.num_inputs)]


class _Evaluation:
    def __init__(self, trt, weights: dict[str, torch.Tensor]):
        self.trt, self.weights = trt, weights
        self.generator = torch.Generator().manual_seed(0)

    def run(self, layer, kind, values: dict[str, torch.Tensor]) -> None:
        entry = HANDLERS.get(kind.name)
        cls = getattr(self.trt, entry[0], None) if entry else None
        if cls is None:
            raise EvaluationError(f"{describe(layer)}: layer type {kind.name} is not supported by the evaluator")
        layer.__class__ = cls
        xs = []
        for t in _inputs(layer):
            if t is not None and t.name not in values:
                raise EvaluationError(f"{describe(layer)}: input {t.name!r} is neither a network input nor produced")
            x = None if t is None else values[t.name]
            xs.append(x.float() if x is not None and x.dtype in (torch.float16, torch.bfloat16) else x)
        try:
            outs = entry[1](layer, xs, self)
        except EvaluationError:
            raise
        except Exception as exc:
            raise EvaluationError(f"{describe(layer)}: cannot evaluate {kind.name}: {exc}") from exc
        outs = (outs,) if isinstance(outs, torch.Tensor) else tuple(outs)
        if len(outs) != layer.num_outputs:
            raise EvaluationError(f"{describe(layer)}: computed {len(outs)} outputs, "
                                  f"TensorRT declares {layer.num_outputs}")
        for j, out in enumerate(outs):
            tensor = layer.get_output(j)
            out = torch.as_tensor(out).to(_torch_dtype(tensor.dtype))
            _check_shape(out, tuple(tensor.shape), f"{describe(layer)} [{kind.name}] output {j}")
            values[tensor.name] = out

    def read_weights(self, layer, attr: str, *, key: str | None = None) -> torch.Tensor | None:
        """`layer.<attr>` weights as a flat torch tensor (None when empty), or from `weights=` when opaque."""
        value = getattr(layer, attr)
        if value is None:
            return None
        if hasattr(value, "__array_interface__"):
            return torch.from_numpy(value.copy()).flatten() if value.size else None
        if getattr(value, "size", None) == 0:  # empty opaque weights (e.g. a bf16 conv without bias)
            return None
        key = key or f"{layer.name}:{attr}"
        if key not in self.weights:
            dtype = getattr(value, "dtype", None)
            raise EvaluationError(f"{describe(layer)}: {attr} weights ({getattr(dtype, 'name', dtype)}) cannot be "
                                  f"read back on this TensorRT version; pass them as weights={{{key!r}: tensor}}")
        return self.weights[key].detach().cpu().flatten()
