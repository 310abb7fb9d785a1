"""Quantize/dequantize ops (torchao PT2E's `quantized_decomposed`) in the one form the converters take.

- Scales and zero points given as constant tensors (`.tensor` overloads) become plain numbers.
- A per-channel axis is made non-negative.
- Dequantize is never folded into its constant input (see `KEEP_UNFOLDED`): an int8/fp8 weight
  must reach the engine as int8/fp8 with a DequantizeLayer, or the engine would store floats.
"""

from __future__ import annotations

import operator

import torch
import torch.ao.quantization.fx._decomposed  # noqa: F401  (registers the quantized_decomposed ops)
import torch.fx

qd = torch.ops.quantized_decomposed

KEEP_UNFOLDED = {qd.dequantize_per_tensor.default, qd.dequantize_per_tensor.tensor, qd.dequantize_per_channel.default}
_SCALAR_FORM = {qd.quantize_per_tensor.tensor: qd.quantize_per_tensor.default,
                qd.dequantize_per_tensor.tensor: qd.dequantize_per_tensor.default}
_PER_CHANNEL = {qd.quantize_per_channel.default, qd.dequantize_per_channel.default}


def normalize_qdq(gm: torch.fx.GraphModule, settings=None) -> torch.fx.GraphModule:
    """Constant scale/zero-point tensors -> numbers; per-channel axes non-negative."""
    for node in gm.graph.nodes:
        if node.op != "call_function":
            continue
        if node.target in _SCALAR_FORM and all(_is_constant(a) for a in node.args[1:3]):
            scale, zero_point = (operator.attrgetter(a.target)(gm) for a in node.args[1:3])
            node.target = _SCALAR_FORM[node.target]
            node.args = (node.args[0], float(scale), int(zero_point), *node.args[3:])
        elif node.target in _PER_CHANNEL and node.args[3] < 0:
            rank = node.args[0].meta["val"].dim()
            node.args = (*node.args[:3], node.args[3] + rank, *node.args[4:])
    gm.graph.eliminate_dead_code()
    return gm


def _is_constant(arg) -> bool:
    return isinstance(arg, torch.fx.Node) and arg.op == "get_attr"
