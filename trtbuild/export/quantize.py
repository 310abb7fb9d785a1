"""Post-training quantization with torchao's PT2E flow: the exported graph gets explicit Q/DQ ops.

Library choice, measured on this machine (torch 2.14.1, CPU only): NVIDIA ModelOpt 0.47 calibrates
on the CPU, but torch.export of its quantized model fails (its CPU fake-quant path branches on
tensor values: GuardOnDataDependentSymNode), and on CUDA it would export a `tensorrt::quantize_op`
fake-quant custom op rather than integer Q/DQ. torchao 0.18's PT2E flow runs on the CPU and its
converted graph re-exports (dynamic dims included) with `quantized_decomposed` quantize/dequantize
ops and int8/fp8 weight constants: exactly what TensorRT's Q/DQ layers express.

Steps (export/calibration.py runs them, with the cache):
  1. `prepare`: prepare_pt2e with `TensorRTQuantizer`: observers on the inputs of conv and linear
  2. scales: `restore_observers` from a cached calibration (every observer's state, as JSON), or
     `calibrate`: run the calibration batches through the observers
  3. `convert`: convert_pt2e: symmetric Q/DQ on activations (per tensor) and weights (int8: per
     output channel), then the re-export with the recipe's dynamic dims

The converted GraphModule is the fake-quantized eager model that `verify` compares engines with.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import torch

from ..errors import RecipeError

aten = torch.ops.aten
QUANTIZED_OPS = (aten.conv1d.default, aten.conv2d.default, aten.conv3d.default, aten.linear.default)
# TensorRT's Q/DQ layers are symmetric (zero point 0) and clamp to the type's full range.
RANGES = {"int8": (torch.int8, -128, 127), "fp8": (torch.float8_e4m3fn, -448, 448)}


@dataclass
class Quantized:
    program: torch.export.ExportedProgram  # with Q/DQ ops: what the pipeline compiles
    fake_quant: torch.nn.Module  # the same computation in eager PyTorch: verify's reference


def _specs(fmt: str, algorithm: str) -> tuple[Any, Any]:
    from torchao.quantization.pt2e.observer import (HistogramObserver, MinMaxObserver,
                                                    PerChannelMinMaxObserver)
    from torchao.quantization.pt2e.quantizer import QuantizationSpec

    dtype, lo, hi = RANGES[fmt]
    observer = HistogramObserver if algorithm == "histogram" else MinMaxObserver
    activation = QuantizationSpec(dtype=dtype, quant_min=lo, quant_max=hi, qscheme=torch.per_tensor_symmetric,
                                  observer_or_fake_quant_ctr=observer)
    if fmt == "int8":
        weight = QuantizationSpec(dtype=dtype, quant_min=lo, quant_max=hi, qscheme=torch.per_channel_symmetric,
                                  ch_axis=0, observer_or_fake_quant_ctr=PerChannelMinMaxObserver)
    else:  # torch's dequantize_per_channel cannot promote float8: FP8 weights are scaled per tensor
        weight = QuantizationSpec(dtype=dtype, quant_min=lo, quant_max=hi, qscheme=torch.per_tensor_symmetric,
                                  observer_or_fake_quant_ctr=MinMaxObserver)
    return activation, weight


def module_path(node: torch.fx.Node) -> str:
    """The dotted path of the module that made the node ('layer1.0.conv1'), or ''."""
    stack = node.meta.get("nn_module_stack") or {}
    return list(stack.values())[-1][0] if stack else ""


def excluded_by(node: torch.fx.Node, entries: list[str]) -> str | None:
    """The `exclude` entry that keeps `node` in float: its op, its name, or one of its modules."""
    op, path = str(node.target), module_path(node)
    for entry in entries:
        if op in (entry, f"{entry}.default") or node.name == entry or path == entry or path.startswith(entry + "."):
            return entry
    return None


def _quantizer(spec: Any, where: str) -> Any:
    from torchao.quantization.pt2e.quantizer import QuantizationAnnotation, Quantizer

    activation, weight = _specs(spec.format, spec.algorithm)

    class TensorRTQuantizer(Quantizer):
        """Quantize the data and weight inputs of conv and linear, except what `exclude` names."""

        def annotate(self, gm: torch.fx.GraphModule) -> torch.fx.GraphModule:
            used: set[str] = set()
            for node in gm.graph.nodes:
                if node.op != "call_function" or node.target not in QUANTIZED_OPS:
                    continue
                entry = excluded_by(node, spec.exclude)
                if entry is not None:
                    used.add(entry)
                    continue
                qspec = {node.args[0]: activation, node.args[1]: weight}
                node.meta["quantization_annotation"] = QuantizationAnnotation(input_qspec_map=qspec, _annotated=True)
            unused = [e for e in spec.exclude if e not in used]
            if unused:
                raise RecipeError(where, "quantize.exclude", f"{', '.join(map(repr, unused))} matches no conv or "
                                  "linear op, node name or module path of the model")
            return gm

        def validate(self, gm: torch.fx.GraphModule) -> None:
            pass

    return TensorRTQuantizer()


def _observers(prepared: torch.nn.Module) -> dict[str, torch.nn.Module]:
    from torchao.quantization.pt2e.observer import ObserverBase

    return {name: m for name, m in prepared.named_modules() if isinstance(m, ObserverBase)}


def observer_states(prepared: torch.nn.Module) -> dict[str, dict]:
    """Every observer's buffers as JSON-ready lists (float32 values round-trip exactly through JSON)."""
    return {name: {k: {"dtype": str(v.dtype).removeprefix("torch."), "shape": list(v.shape),
                       "values": v.flatten().tolist()} for k, v in m.state_dict().items()}
            for name, m in _observers(prepared).items()}


def restore_observers(prepared: torch.nn.Module, states: dict[str, dict]) -> bool:
    """Load cached observer states; False (and nothing loaded) if they do not fit this prepared model."""
    observers = _observers(prepared)
    if not isinstance(states, dict) or set(states) != set(observers):
        return False
    try:
        tensors = {name: {k: torch.tensor(v["values"], dtype=getattr(torch, v["dtype"])).reshape(v["shape"])
                          for k, v in state.items()} for name, state in states.items()}
    except (KeyError, TypeError, ValueError, AttributeError, RuntimeError):
        return False
    for name, module in observers.items():
        module.load_state_dict(tensors[name])
    return True


def prepare(recipe: Any, program: torch.export.ExportedProgram) -> torch.fx.GraphModule:
    """The float program with observers where Q/DQ ops will go."""
    from torchao.quantization.pt2e.quantize_pt2e import prepare_pt2e

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torchao's notes on observer arguments it deprecates
        return prepare_pt2e(program.module(), _quantizer(recipe.quantize, str(recipe.path)))


def calibrate(prepared: torch.fx.GraphModule, batches: list[list[torch.Tensor]], names: list[str] | None) -> None:
    """Run the batches through the observers (by input name when `names` is given)."""
    with torch.no_grad():
        for batch in batches:
            if names is None:
                prepared(*batch)
            else:
                prepared(**dict(zip(names, batch)))


def convert(prepared: torch.fx.GraphModule, inputs: list) -> Quantized:
    """Observers -> Q/DQ ops, then the re-export with the recipe's dynamic dims."""
    from torchao.quantization.pt2e import allow_exported_model_train_eval
    from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e

    from .trace import trace

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        converted = convert_pt2e(prepared)
    allow_exported_model_train_eval(converted)  # trace() puts it in eval mode, which pt2e models refuse by default
    return Quantized(trace(converted, inputs), converted)
