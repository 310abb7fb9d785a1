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

Weights: weights read back as numpy are copied into torch tensors. BF16 (and FP8/INT4) weights read
back opaque; pass their source tensors in `weights=`, keyed by the layer name for a Constant layer
and by "<layer name>:<attribute>" for the weights of other layers ("conv1:kernel", "conv1:bias",
"scale1:shift", ...). A layer whose weights cannot be read and are not in `weights=` raises
`EvaluationError`.

Unsupported: layer types without a handler below (LRN, loops, conditionals, plugins, quantize,
...) raise `EvaluationError` naming the type; so does a handler that cannot read an
attribute on the installed TensorRT version. Fill RANDOM_UNIFORM / RANDOM_NORMAL produce values
from torch's generator (seeded), not TensorRT's: only their shape, dtype and range are meaningful.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from graphlib import CycleError, TopologicalSorter
from typing import Any

import torch
import torch.nn.functional as F

from ..errors import ConversionError

__all__ = ["EvaluationError", "evaluate"]


class EvaluationError(ConversionError):
    """The network cannot be evaluated: an unsupported layer, a shape mismatch or a failed assertion."""


_DTYPES = {"FLOAT": torch.float32, "HALF": torch.float16, "BF16": torch.bfloat16, "INT32": torch.int32,
           "INT64": torch.int64, "BOOL": torch.bool, "INT8": torch.int8, "UINT8": torch.uint8}


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
    for layer, kind in _topological_order(network):
        ev.run(layer, kind, values)
    return {network.get_output(i).name: values[network.get_output(i).name] for i in range(network.num_outputs)}


def _describe(layer) -> str:
    """How error messages name a layer: its name, its type and the FX node from `layer.metadata`."""
    node = layer.metadata
    return f"layer {layer.name!r}" + (f" (FX node {node!r})" if node else " (no FX node in metadata)")


def _check_shape(value: torch.Tensor, expected: tuple[int, ...], what: str) -> None:
    got = tuple(value.shape)
    if len(got) != len(expected) or any(e != -1 and e != g for g, e in zip(got, expected)):
        raise EvaluationError(f"{what}: computed shape {list(got)} but TensorRT infers {list(expected)}")


def _topological_order(network) -> list[tuple[Any, Any]]:
    """Layers sorted so that each comes after the producers of its inputs (index order is insertion order)."""
    layers = [network.get_layer(i) for i in range(network.num_layers)]
    producer = {layer.get_output(j).name: i for i, layer in enumerate(layers) for j in range(layer.num_outputs)}
    graph = {i: {producer[t.name] for t in _inputs(layer) if t is not None and t.name in producer}
             for i, layer in enumerate(layers)}
    try:
        order = TopologicalSorter(graph).static_order()
        return [(layers[i], layers[i].type) for i in order]  # read `type` before any downcast
    except CycleError as exc:
        cycle = ", ".join(_describe(layers[i]) for i in exc.args[1])
        raise EvaluationError(f"the network has a dependency cycle through {cycle}") from None


def _inputs(layer) -> list[Any]:
    return [layer.get_input(j) for j in range(layer.num_inputs)]


class _Evaluation:
    def __init__(self, trt, weights: dict[str, torch.Tensor]):
        self.trt, self.weights = trt, weights
        self.generator = torch.Generator().manual_seed(0)

    def run(self, layer, kind, values: dict[str, torch.Tensor]) -> None:
        entry = _HANDLERS.get(kind.name)
        cls = getattr(self.trt, entry[0], None) if entry else None
        if cls is None:
            raise EvaluationError(f"{_describe(layer)}: layer type {kind.name} is not supported by the evaluator")
        layer.__class__ = cls
        xs = []
        for t in _inputs(layer):
            if t is not None and t.name not in values:
                raise EvaluationError(f"{_describe(layer)}: input {t.name!r} is neither a network input nor produced")
            x = None if t is None else values[t.name]
            xs.append(x.float() if x is not None and x.dtype in (torch.float16, torch.bfloat16) else x)
        try:
            outs = entry[1](layer, xs, self)
        except EvaluationError:
            raise
        except Exception as exc:
            raise EvaluationError(f"{_describe(layer)}: cannot evaluate {kind.name}: {exc}") from exc
        outs = (outs,) if isinstance(outs, torch.Tensor) else tuple(outs)
        if len(outs) != layer.num_outputs:
            raise EvaluationError(f"{_describe(layer)}: computed {len(outs)} outputs, "
                                  f"TensorRT declares {layer.num_outputs}")
        for j, out in enumerate(outs):
            tensor = layer.get_output(j)
            out = torch.as_tensor(out).to(_torch_dtype(tensor.dtype))
            _check_shape(out, tuple(tensor.shape), f"{_describe(layer)} [{kind.name}] output {j}")
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
            raise EvaluationError(f"{_describe(layer)}: {attr} weights ({getattr(dtype, 'name', dtype)}) cannot be "
                                  f"read back on this TensorRT version; pass them as weights={{{key!r}: tensor}}")
        return self.weights[key].detach().cpu().flatten()


def _axes(mask: int, rank: int) -> tuple[int, ...]:
    return tuple(d for d in range(rank) if mask >> d & 1)


def _given(xs: list, i: int) -> torch.Tensor | None:
    """Optional input i (an attribute replaced by a dynamic input), or None."""
    return xs[i] if len(xs) > i else None


def _ints(value) -> list[int] | None:
    return None if value is None else [int(v) for v in (value.tolist() if isinstance(value, torch.Tensor) else value)]


def _dims(xs: list, i: int, static) -> list[int] | None:
    """Integer list from input i when it is given, else from the static attribute (None if unset)."""
    return _ints(_given(xs, i) if _given(xs, i) is not None else static)


def _pad(x: torch.Tensor, pads: list[tuple[int, int]], value: float = 0.0) -> torch.Tensor:
    """Pad (or crop, if negative) the trailing len(pads) dims by (before, after) each."""
    flat = [p for pair in reversed(pads) for p in pair]
    return F.pad(x, flat, value=value) if any(flat) else x


# ---------------------------------------------------------------- convolution and pooling

def _spatial_padding(layer, sizes, kernel, stride, dilation) -> list[tuple[int, int, int]]:
    """(pre, post, extra) padding per spatial dim; `extra` is the tail EXPLICIT_ROUND_UP adds so the
    last (partial) window exists: O = ceil((M - DK) / S) + 1, with M the explicitly padded size."""
    mode = layer.padding_mode.name
    result = []
    for d, n in enumerate(sizes):
        dk, s = 1 + dilation[d] * (kernel[d] - 1), stride[d]
        if mode.startswith("SAME"):
            total = max(0, (math.ceil(n / s) - 1) * s + dk - n)
            pre = total // 2 if mode == "SAME_UPPER" else total - total // 2
            result.append((pre, total - pre, 0))
            continue
        pre, post = layer.pre_padding[d], layer.post_padding[d]
        extra = 0
        if mode == "EXPLICIT_ROUND_UP":
            m = n + pre + post
            extra = max(0, (math.ceil((m - dk) / s)) * s + dk - m)
        result.append((pre, post, extra))
    return result


def _convolution(layer, xs, ev):
    """Zero padding; EXPLICIT_ROUND_UP's extra tail is zero-padded too (uncertain: not confirmed on a GPU)."""
    x, k, (w, b) = xs[0], tuple(layer.kernel_size_nd), _kernel_and_bias(layer, xs, ev)
    stride, dilation = tuple(layer.stride_nd), tuple(layer.dilation_nd)
    pads = _spatial_padding(layer, x.shape[2:], k, stride, dilation)
    x = _pad(x, [(pre, post + extra) for pre, post, extra in pads])
    w = w.reshape(layer.num_output_maps, -1, *k)
    return getattr(F, f"conv{len(k)}d")(x, w, b, stride, 0, dilation, layer.num_groups)


def _kernel_and_bias(layer, xs, ev) -> tuple[torch.Tensor, torch.Tensor | None]:
    """The kernel and bias, from inputs 1 and 2 when given as tensors, else from the layer's weights."""
    w = _given(xs, 1) if _given(xs, 1) is not None else ev.read_weights(layer, "kernel")
    b = _given(xs, 2) if _given(xs, 2) is not None else ev.read_weights(layer, "bias")
    return w.to(xs[0].dtype), None if b is None else b.to(xs[0].dtype).flatten()


def _deconvolution(layer, xs, ev):
    """ConvTranspose, then pre/post padding crops the output. SAME_* modes crop DK - S in total, the
    smaller half first for SAME_UPPER (uncertain: not confirmed on a GPU)."""
    x, k, (w, b) = xs[0], tuple(layer.kernel_size_nd), _kernel_and_bias(layer, xs, ev)
    stride, dilation = tuple(layer.stride_nd), tuple(layer.dilation_nd)
    w = w.reshape(x.shape[1], -1, *k)
    y = getattr(F, f"conv_transpose{len(k)}d")(x, w, b, stride, 0, 0, layer.num_groups, dilation)
    if layer.padding_mode.name.startswith("SAME"):
        crops = []
        for d in range(len(k)):
            total = max(0, 1 + dilation[d] * (k[d] - 1) - stride[d])
            small = total // 2
            crops.append((small, total - small) if layer.padding_mode.name == "SAME_UPPER" else (total - small, small))
    else:
        crops = list(zip(layer.pre_padding, layer.post_padding))
    return _pad(y, [(-a, -b) for a, b in crops])


def _pooling(layer, xs, ev):
    """MAX pads with -inf, AVERAGE with 0. The EXPLICIT_ROUND_UP tail never counts towards an average
    (like torch's ceil_mode); explicit padding counts unless average_count_excludes_padding. The
    tail rule is uncertain (not confirmed on a GPU)."""
    x, k, s = xs[0], tuple(layer.window_size_nd), tuple(layer.stride_nd)
    pads = _spatial_padding(layer, x.shape[-len(k):], k, s, (1,) * len(k))
    explicit, tail = [(a, b) for a, b, _ in pads], [(0, e) for *_, e in pads]
    kind = layer.type.name  # the PoolingType once downcast

    def max_pool():
        return getattr(F, f"max_pool{len(k)}d")(_pad(_pad(x, explicit, -math.inf), tail, -math.inf), k, s)

    def avg_pool():
        pool = getattr(F, f"avg_pool{len(k)}d")
        ones = torch.ones((1, 1, *x.shape[-len(k):]), dtype=x.dtype)
        counted = _pad(_pad(ones, explicit, 0.0 if layer.average_count_excludes_padding else 1.0), tail, 0.0)
        return pool(_pad(_pad(x, explicit), tail), k, s) / pool(counted, k, s)

    if kind == "MAX":
        return max_pool()
    if kind == "AVERAGE":
        return avg_pool()
    return layer.blend_factor * max_pool() + (1 - layer.blend_factor) * avg_pool()  # MAX_AVERAGE_BLEND


# ---------------------------------------------------------------- pointwise

_ACTIVATIONS: dict[str, Callable] = {
    "RELU": lambda x, a, b: torch.relu(x),
    "SIGMOID": lambda x, a, b: torch.sigmoid(x),
    "TANH": lambda x, a, b: torch.tanh(x),
    "LEAKY_RELU": lambda x, a, b: torch.where(x >= 0, x, a * x),
    "ELU": lambda x, a, b: torch.where(x >= 0, x, a * torch.expm1(x)),
    "SELU": lambda x, a, b: torch.where(x > 0, b * x, b * (a * torch.exp(x) - a)),
    "SOFTSIGN": lambda x, a, b: x / (1 + x.abs()),
    "SOFTPLUS": lambda x, a, b: a * F.softplus(b * x),
    "CLIP": lambda x, a, b: x.clamp(a, b),
    "HARD_SIGMOID": lambda x, a, b: (a * x + b).clamp(0, 1),
    "SCALED_TANH": lambda x, a, b: a * torch.tanh(b * x),
    "THRESHOLDED_RELU": lambda x, a, b: torch.where(x > a, x, torch.zeros_like(x)),
    "GELU_ERF": lambda x, a, b: F.gelu(x),
    "GELU_TANH": lambda x, a, b: F.gelu(x, approximate="tanh"),
}


def _activation(layer, xs, ev):
    return _ACTIVATIONS[layer.type.name](xs[0], layer.alpha, layer.beta)  # `type` is the ActivationType here


def _int_aware_div(a, b):
    """Integer DIV truncates toward zero (uncertain: inferred, not confirmed on a GPU)."""
    return a / b if a.is_floating_point() else torch.div(a, b, rounding_mode="trunc")


_ELEMENTWISE: dict[str, Callable] = {
    "SUM": torch.add, "PROD": torch.mul, "MAX": torch.maximum, "MIN": torch.minimum, "SUB": torch.sub,
    "DIV": _int_aware_div, "POW": torch.pow, "FLOOR_DIV": lambda a, b: torch.div(a, b, rounding_mode="floor"),
    "AND": torch.logical_and, "OR": torch.logical_or, "XOR": torch.logical_xor,
    "EQUAL": torch.eq, "GREATER": torch.gt, "LESS": torch.lt,
}

_UNARY: dict[str, Callable] = {
    "EXP": torch.exp, "LOG": torch.log, "SQRT": torch.sqrt, "RECIP": torch.reciprocal, "ABS": torch.abs,
    "NEG": torch.neg, "SIN": torch.sin, "COS": torch.cos, "TAN": torch.tan, "SINH": torch.sinh,
    "COSH": torch.cosh, "ASIN": torch.asin, "ACOS": torch.acos, "ATAN": torch.atan, "ASINH": torch.asinh,
    "ACOSH": torch.acosh, "ATANH": torch.atanh, "CEIL": torch.ceil, "FLOOR": torch.floor, "ERF": torch.erf,
    "NOT": torch.logical_not, "SIGN": torch.sign, "ROUND": torch.round,  # half to even
    "ISINF": torch.isinf, "ISNAN": torch.isnan,
}


def _elementwise(layer, xs, ev):
    return _ELEMENTWISE[layer.op.name](xs[0], xs[1])  # same rank; size-1 dims broadcast


def _unary(layer, xs, ev):
    return _UNARY[layer.op.name](xs[0])


def _parametric_relu(layer, xs, ev):
    return torch.where(xs[0] >= 0, xs[0], xs[0] * xs[1])


def _select(layer, xs, ev):
    return torch.where(xs[0], xs[1], xs[2])


def _scale(layer, xs, ev):
    """(x * scale + shift) ** power; empty weights mean 1, 0, 1. CHANNEL weights lie along
    channel_axis; ELEMENTWISE weights have shape x.shape[channel_axis:] (uncertain for ranks > 4)."""
    x, axis, mode = xs[0], layer.channel_axis, layer.mode.name

    def coefficients(attr):
        w = ev.read_weights(layer, attr)
        if w is None:
            return None
        if mode == "CHANNEL":
            return w.to(x.dtype).reshape([-1 if d == axis else 1 for d in range(x.dim())])
        return w.to(x.dtype).reshape(x.shape[axis:] if mode == "ELEMENTWISE" else ())

    scale, shift, power = coefficients("scale"), coefficients("shift"), coefficients("power")
    y = x if scale is None else x * scale
    y = y if shift is None else y + shift
    return y if power is None else y ** power


# ---------------------------------------------------------------- reductions and normalization

def _reduce(layer, xs, ev):
    x, keep = xs[0], layer.keep_dims
    dims, op = _axes(layer.axes, xs[0].dim()), layer.op.name
    if not dims:
        return x
    if op == "PROD":
        for d in sorted(dims, reverse=True):
            x = x.prod(d, keepdim=keep)
        return x
    if op == "AVG":  # integer averages: computed exactly, then truncated by the cast (uncertain)
        return (x if x.is_floating_point() else x.double()).mean(dims, keepdim=keep)
    return {"SUM": torch.sum, "MAX": torch.amax, "MIN": torch.amin}[op](x, dims, keepdim=keep)


def _softmax(layer, xs, ev):
    return torch.softmax(xs[0], dim=_axes(layer.axes, xs[0].dim())[0])


def _normalization(layer, xs, ev):
    """(x - mean) / sqrt(var + eps) * S + B over the `axes` bitmask (biased variance). With num_groups
    G > 1 the statistics are per group over (C/G, spatial dims); S and B have shape [1, G, 1, ...] for
    the deprecated add_normalization and [1, C, 1, ...] for add_normalization_v2 (`is_v2`)."""
    x, scale, bias, groups = xs[0], xs[1], xs[2], layer.num_groups
    if groups == 1:
        dims = _axes(layer.axes, x.dim())
        mean, var = x.mean(dims, keepdim=True), x.var(dims, keepdim=True, unbiased=False)
        return (x - mean) / torch.sqrt(var + layer.epsilon) * scale + bias
    g = x.reshape(x.shape[0], groups, -1)
    g = (g - g.mean(-1, keepdim=True)) / torch.sqrt(g.var(-1, keepdim=True, unbiased=False) + layer.epsilon)
    if not layer.is_v2:
        return (g * scale.reshape(1, groups, 1) + bias.reshape(1, groups, 1)).reshape(x.shape)
    return g.reshape(x.shape) * scale + bias


def _topk(layer, xs, ev):
    """Sorted; the order of ties is torch's (uncertain)."""
    k = int(xs[1]) if _given(xs, 1) is not None else layer.k
    values, indices = torch.topk(xs[0], k, _axes(layer.axes, xs[0].dim())[0], largest=layer.op.name == "MAX")
    return values, indices


def _cumulative(layer, xs, ev):
    x, axis = xs[0], int(xs[1])
    y = x.flip(axis) if layer.reverse else x
    y = y.cumsum(axis, dtype=y.dtype)
    y = y - (x.flip(axis) if layer.reverse else x) if layer.exclusive else y
    return y.flip(axis) if layer.reverse else y


# ---------------------------------------------------------------- data movement

def _shuffle(layer, xs, ev):
    x = xs[0].permute(list(layer.first_transpose)[: xs[0].dim()])
    dims = _dims(xs, 1, layer.reshape_dims)
    if dims is not None:  # None: no reshape
        if layer.zero_is_placeholder:
            dims = [x.shape[d] if v == 0 else v for d, v in enumerate(dims)]
        x = x.reshape(dims)
    return x.permute(list(layer.second_transpose)[: x.dim()])


def _slice(layer, xs, ev):
    """out[i] = x[start + i * stride] per axis; out-of-range coordinates follow the mode (WRAP: modulo,
    CLAMP, FILL: value from input 4 or 0, REFLECT: mirrored without repeating the edge, as torch's
    reflect padding, uncertain). Inputs 1-3 replace start/shape/stride, input 5 (or `axes`) names the axes."""
    x, rank, mode = xs[0], xs[0].dim(), layer.mode.name
    start, size, stride = ([0] * rank, list(x.shape), [1] * rank)
    given = [_dims(xs, 1, layer.start), _dims(xs, 2, layer.shape), _dims(xs, 3, layer.stride)]
    axes = _dims(xs, 5, layer.axes)
    for j, axis in enumerate(axes if axes is not None else range(rank)):
        start[axis % rank], size[axis % rank], stride[axis % rank] = (given[0][j], given[1][j], given[2][j])
    inside = torch.ones((), dtype=torch.bool)
    for d in range(rank):
        n, idx = x.shape[d], start[d] + torch.arange(size[d]) * stride[d]
        valid = (idx >= 0) & (idx < n)
        if mode == "STRICT_BOUNDS" and not bool(valid.all()):
            raise EvaluationError(f"{_describe(layer)}: slice reads outside dim {d} (size {n}): {idx.tolist()}")
        if mode == "WRAP":
            idx = idx % n
        elif mode == "REFLECT":
            period = max(2 * (n - 1), 1)
            idx = idx % period
            idx = torch.where(idx >= n, period - idx, idx)
        elif mode == "FILL":
            inside = inside & valid.reshape([-1 if e == d else 1 for e in range(rank)])
        x = x.index_select(d, idx.clamp(0, max(n - 1, 0)))
    if mode == "FILL":
        fill = _given(xs, 4)
        x = torch.where(inside, x, (fill if fill is not None else torch.zeros(())).to(x.dtype))
    return x


def _concatenation(layer, xs, ev):
    return torch.cat(xs, layer.axis)


def _padding(layer, xs, ev):
    """Zero padding (negative values crop) of the trailing dims (the last two)."""
    return _pad(xs[0], list(zip(layer.pre_padding_nd, layer.post_padding_nd)))


def _squeeze(layer, xs, ev):
    x = xs[0]
    axes = {a % x.dim() for a in _ints(xs[1])}
    if any(x.shape[a] != 1 for a in axes):
        raise EvaluationError(f"{_describe(layer)}: cannot squeeze axes {sorted(axes)} of shape {list(x.shape)}")
    return x.reshape([n for d, n in enumerate(x.shape) if d not in axes])


def _unsqueeze(layer, xs, ev):
    x = xs[0]
    rank = x.dim() + len(xs[1].flatten())
    for a in sorted(a % rank for a in _ints(xs[1])):
        x = x.unsqueeze(a)
    return x


def _gather(layer, xs, ev):
    """DEFAULT: x.shape[:axis] + idx.shape + x.shape[axis+1:], negative indices wrap (uncertain);
    with num_elementwise_dims 1 the leading dim of x and idx is a shared batch dim (uncertain).
    ELEMENT = torch.gather. ND = ONNX GatherND with batch_dims = num_elementwise_dims."""
    x, idx, axis, batch = xs[0], xs[1].long(), layer.axis % xs[0].dim(), layer.num_elementwise_dims
    mode = layer.mode.name
    if mode == "ELEMENT":
        return torch.gather(x, axis, idx)
    if mode == "ND":
        k = idx.shape[-1]
        flat_x = x.reshape(-1, *x.shape[batch:])
        flat_i = idx.reshape(flat_x.shape[0], -1, k)
        rows = torch.arange(flat_x.shape[0]).unsqueeze(1).expand(flat_i.shape[:2])
        picked = flat_x[(rows, *flat_i.unbind(-1))]
        return picked.reshape((*idx.shape[:-1], *x.shape[batch + k:]))

    def default(x, idx, axis):
        idx = torch.where(idx < 0, idx + x.shape[axis], idx)
        out = x.index_select(axis, idx.flatten())
        return out.reshape((*x.shape[:axis], *idx.shape, *x.shape[axis + 1:]))  # tuple: 0-d idx gives ()

    if batch == 0:
        return default(x, idx, axis)
    return torch.stack([default(x[b], idx[b], axis - 1) for b in range(x.shape[0])])


def _scatter(layer, xs, ev):
    data, idx, updates = xs[0], xs[1].long(), xs[2]
    if layer.mode.name == "ELEMENT":
        return data.scatter(layer.axis % data.dim(), idx, updates)
    out = data.clone()  # ND, as ONNX ScatterND
    out[tuple(idx.unbind(-1))] = updates
    return out


def _one_hot(layer, xs, ev):
    """values = [off, on]; negative indices count from depth (uncertain); others out of range are all off."""
    idx, values, depth = xs[0].long(), xs[1].flatten(), int(xs[2])
    idx = torch.where(idx < 0, idx + depth, idx)
    out = torch.where(idx.unsqueeze(-1) == torch.arange(depth), values[1], values[0])
    return out.movedim(-1, layer.axis % out.dim())


def _matrix_multiply(layer, xs, ev):
    """TRANSPOSE swaps the last two dims; VECTOR makes input 0 a row, input 1 a column."""
    a, b, op0, op1 = xs[0], xs[1], layer.op0.name, layer.op1.name
    a = a.unsqueeze(-2) if op0 == "VECTOR" else a.transpose(-1, -2) if op0 == "TRANSPOSE" else a
    b = b.unsqueeze(-1) if op1 == "VECTOR" else b.transpose(-1, -2) if op1 == "TRANSPOSE" else b
    y = torch.matmul(a, b)
    y = y.squeeze(-1) if op1 == "VECTOR" else y
    return y.squeeze(-2 if op1 != "VECTOR" else -1) if op0 == "VECTOR" else y


def _einsum(layer, xs, ev):
    return torch.einsum(layer.equation, *xs)


def _resize(layer, xs, ev):
    """Separable per axis. Coordinates: ALIGN_CORNERS o*(n-1)/(m-1), ASYMMETRIC o/s, HALF_PIXEL
    (o+0.5)/s-0.5, where s is the given scale, else m/n; the UPPER selector maps a 1-pixel output to
    0. NEAREST rounds by `nearest_rounding`; LINEAR clamps coordinates to [0, n-1]; CUBIC uses
    `cubic_coeff` with edge-clamped taps (as torch bicubic). Tested against torch: NEAREST with
    ASYMMETRIC+FLOOR (`nearest`) and HALF_PIXEL+HALF_UP (`nearest-exact`), LINEAR and CUBIC with
    HALF_PIXEL / ALIGN_CORNERS. Other combinations (HALF_DOWN, CEIL, the UPPER selector,
    exclude_outside, dynamic float scales) follow the ONNX formulas (uncertain)."""
    x = xs[0]
    dynamic, scales = _given(xs, 1), list(layer.scales) or None
    if dynamic is not None:
        scales = dynamic.tolist() if dynamic.is_floating_point() else None
        sizes = _ints(dynamic) if scales is None else [math.floor(n * s) for n, s in zip(x.shape, scales)]
    else:
        sizes = _ints(layer.shape) if scales is None else [math.floor(n * s) for n, s in zip(x.shape, scales)]
    for d, (n, m) in enumerate(zip(x.shape, sizes)):
        if n != m or (scales and scales[d] != 1):
            x = _resize_axis(layer, x, d, m, scales[d] if scales else m / n)
    return x


def _resize_axis(layer, x: torch.Tensor, d: int, m: int, scale: float) -> torch.Tensor:
    n, o = x.shape[d], torch.arange(m, dtype=torch.float64)
    transform = layer.coordinate_transformation.name
    if m == 1 and layer.selector_for_single_pixel.name == "UPPER":
        src = torch.zeros(1, dtype=torch.float64)
    elif transform == "ALIGN_CORNERS":
        src = o * ((n - 1) / (m - 1)) if m > 1 else torch.zeros(1, dtype=torch.float64)
    else:
        src = o / scale if transform == "ASYMMETRIC" else (o + 0.5) / scale - 0.5
    along = [-1 if e == d else 1 for e in range(x.dim())]
    mode = layer.resize_mode.name
    if mode == "NEAREST":
        rounding = {"FLOOR": torch.floor, "CEIL": torch.ceil, "HALF_UP": lambda v: torch.floor(v + 0.5),
                    "HALF_DOWN": lambda v: torch.ceil(v - 0.5)}[layer.nearest_rounding.name]
        return x.index_select(d, rounding(src).long().clamp(0, n - 1))
    if mode == "LINEAR":
        src = src.clamp(0, n - 1)
        lo = src.floor().long()
        w = (src - lo).to(x.dtype).reshape(along)
        return x.index_select(d, lo) * (1 - w) + x.index_select(d, (lo + 1).clamp(max=n - 1)) * w
    a, lo = layer.cubic_coeff, src.floor().long()  # CUBIC
    t = (src - lo).unsqueeze(1) + torch.tensor([1.0, 0.0, -1.0, -2.0], dtype=torch.float64)  # distances to taps
    t = t.abs()
    w = torch.where(t <= 1, ((a + 2) * t - (a + 3)) * t * t + 1,
                    torch.where(t < 2, ((t - 5) * t + 8) * t * a - 4 * a, torch.zeros_like(t)))
    taps = lo.unsqueeze(1) + torch.arange(-1, 3)
    if layer.exclude_outside:
        w = torch.where((taps >= 0) & (taps < n), w, torch.zeros_like(w))
        w = w / w.sum(1, keepdim=True)
    taps = taps.clamp(0, n - 1)
    out = 0
    for j in range(4):
        out = out + x.index_select(d, taps[:, j]) * w[:, j].to(x.dtype).reshape(along)
    return out


# ---------------------------------------------------------------- attention

def _attention_input(layer, xs, ev):
    """IAttention, computed by its input boundary layer (the output boundary layer copies the result):
    softmax(Q·Kᵀ + mask)·V, with no scale. A bool mask keeps True positions, a float mask is added.
    With fewer key/value heads, query head h reads key/value head h // (Hq / Hkv). Causal UPPER_LEFT
    keeps keys j <= i, LOWER_RIGHT aligns the diagonal with the last key. A row whose keys are all
    masked comes out NaN, as torch's plain softmax (uncertain: not confirmed on a GPU)."""
    att = layer.attention
    if att.query_form.name != "PADDED_BHND" or att.key_value_form.name != "PADDED_BHND":
        raise EvaluationError(f"{_describe(layer)}: only the padded BHND attention layout is supported")
    if att.normalization_quantize_scale is not None:
        raise EvaluationError(f"{_describe(layer)}: quantized attention normalization is not supported")
    q, k, v = xs[:3]
    mask = xs[3] if att.mask is not None else None
    groups = q.shape[1] // k.shape[1]
    k, v = k.repeat_interleave(groups, 1), v.repeat_interleave(groups, 1)
    scores = q @ k.transpose(-1, -2)
    rows, cols = scores.shape[-2:]
    if att.causal_kind.name != "NONE":
        offset = 0 if att.causal_kind.name == "UPPER_LEFT" else cols - rows
        mask = torch.ones(rows, cols, dtype=torch.bool).tril(offset)
    if mask is not None:
        scores = scores.masked_fill(~mask, -math.inf) if mask.dtype == torch.bool else scores + mask
    if att.norm_op.name == "SOFTMAX":
        scores = scores.softmax(-1)
    return scores @ v


# ---------------------------------------------------------------- sources and shape tensors

def _constant(layer, xs, ev):
    value = ev.read_weights(layer, "weights", key=layer.name)
    shape = tuple(layer.shape)
    return torch.zeros(shape) if value is None else value.reshape(shape)


def _fill(layer, xs, ev):
    """LINSPACE: alpha + sum_k beta[k] * i_k (a static beta is used for every dim). Inputs 0-2 replace
    shape, alpha and beta. RANDOM_UNIFORM in [alpha, beta), RANDOM_NORMAL mean alpha, std beta, drawn
    from torch's seeded generator: not TensorRT's values."""
    shape = _dims(xs, 0, layer.shape)
    alpha = xs[1] if _given(xs, 1) is not None else torch.tensor(layer.alpha, dtype=torch.float64)
    beta = xs[2] if _given(xs, 2) is not None else torch.tensor(layer.beta, dtype=torch.float64)
    op = layer.operation.name
    if op == "RANDOM_UNIFORM":
        return torch.rand(shape, generator=ev.generator, dtype=torch.float64) * (beta - alpha) + alpha
    if op == "RANDOM_NORMAL":
        return torch.randn(shape, generator=ev.generator, dtype=torch.float64) * beta + alpha
    deltas = beta.flatten().expand(len(shape)) if beta.numel() == 1 else beta.flatten()
    out = alpha.reshape(()).expand(shape)
    for d, n in enumerate(shape):
        out = out + deltas[d] * torch.arange(n).reshape([-1 if e == d else 1 for e in range(len(shape))])
    return out


def _cast(layer, xs, ev):
    return xs[0]  # the cast to the declared dtype (float -> int truncates) happens for every output


def _shape(layer, xs, ev):
    return torch.tensor(list(xs[0].shape), dtype=torch.int64)


def _assertion(layer, xs, ev):
    if not bool(xs[0].all()):
        raise EvaluationError(f"{_describe(layer)}: assertion failed: {layer.message}")
    return ()


_HANDLERS: dict[str, tuple[str, Callable]] = {
    "CONVOLUTION": ("IConvolutionLayer", _convolution),
    "DECONVOLUTION": ("IDeconvolutionLayer", _deconvolution),
    "POOLING": ("IPoolingLayer", _pooling),
    "ACTIVATION": ("IActivationLayer", _activation),
    "ELEMENTWISE": ("IElementWiseLayer", _elementwise),
    "UNARY": ("IUnaryLayer", _unary),
    "PARAMETRIC_RELU": ("IParametricReLULayer", _parametric_relu),
    "SELECT": ("ISelectLayer", _select),
    "SCALE": ("IScaleLayer", _scale),
    "REDUCE": ("IReduceLayer", _reduce),
    "SOFTMAX": ("ISoftMaxLayer", _softmax),
    "NORMALIZATION": ("INormalizationLayer", _normalization),
    "TOPK": ("ITopKLayer", _topk),
    "CUMULATIVE": ("ICumulativeLayer", _cumulative),
    "SHUFFLE": ("IShuffleLayer", _shuffle),
    "SLICE": ("ISliceLayer", _slice),
    "CONCATENATION": ("IConcatenationLayer", _concatenation),
    "PADDING": ("IPaddingLayer", _padding),
    "SQUEEZE": ("ISqueezeLayer", _squeeze),
    "UNSQUEEZE": ("IUnsqueezeLayer", _unsqueeze),
    "GATHER": ("IGatherLayer", _gather),
    "SCATTER": ("IScatterLayer", _scatter),
    "ONE_HOT": ("IOneHotLayer", _one_hot),
    "MATRIX_MULTIPLY": ("IMatrixMultiplyLayer", _matrix_multiply),
    "EINSUM": ("IEinsumLayer", _einsum),
    "RESIZE": ("IResizeLayer", _resize),
    "CONSTANT": ("IConstantLayer", _constant),
    "FILL": ("IFillLayer", _fill),
    "CAST": ("ICastLayer", _cast),
    "IDENTITY": ("IIdentityLayer", _cast),
    "SHAPE": ("IShapeLayer", _shape),
    "ASSERTION": ("IAssertionLayer", _assertion),
    "ATTENTION_INPUT": ("IAttentionInputLayer", _attention_input),
    "ATTENTION_OUTPUT": ("IAttentionOutputLayer", _cast),
}
