"""Recurrent layers (nn.LSTM, nn.GRU, nn.RNN) as TensorRT loops, one loop per layer and direction.

torch.export keeps them whole (aten.lstm.input, aten.gru.input, aten.rnn_tanh.input, aten.rnn_relu.input).
Their decompositions would unroll the sequence into ~17 ops per step, layer and direction: a long
sequence then takes minutes to lower and build and memory grows with it. A loop keeps the network
the size of one step, whatever the sequence length.

Per layer and direction: the input projection x W_ih^T + b_ih of every step is one matrix multiply
before the loop; inside, an iterator reads step t's projection (from the end for the reverse
direction), recurrences carry h (and c), and the loop outputs the sequence of h (REVERSE for the
reverse direction, so that position t holds step t) and the last h (and c). Gate order is torch's:
LSTM i, f, g, o; GRU r, z, n.
"""

from __future__ import annotations

import numpy as np
import torch

from ..context import normalize_dim
from ..registry import converter
from .linear import matmul_tensors
from .split import _pieces

aten = torch.ops.aten

GATES = {"lstm": 4, "gru": 3, "rnn_tanh": 1, "rnn_relu": 1}


def _supported(node) -> str | None:
    from ..interpreter import node_args

    args = node_args(node)
    kind = node.target._opname
    val = args["input"].meta.get("val")
    if val is None or val.dim() != 3:
        return "only batched (3-D) input is converted"
    if not isinstance(val.shape[0 if not args["batch_first"] else 1], int):
        return "the sequence length must be static"
    if args["train"]:
        return "training mode (dropout between layers) is not converted"
    params = args["params"]
    per_layer = (2 + 2 * args["has_biases"]) * (2 if args["bidirectional"] else 1)
    if len(params) != per_layer * args["num_layers"]:
        return "LSTM with proj_size is not converted" if kind == "lstm" else "unexpected parameter count"
    if any(p.op != "get_attr" for p in params):
        return "weights computed at run time are not supported; only constant weights are"
    return None


def _state(ctx, hx, k):
    """The initial state of layer-direction k: hx[k] ([batch, hidden])."""
    if isinstance(hx, torch.Tensor):
        return ctx.tensor(hx[k])
    return ctx.out(ctx.network.add_gather(hx, ctx.constant(np.array(k, dtype=np.int64)), 0))


def _activation(ctx, x, kind):
    return ctx.out(ctx.network.add_activation(x, getattr(ctx.trt.ActivationType, kind)))


def _math(ctx, a, b, op):
    return ctx.elementwise(a, b, getattr(ctx.trt.ElementWiseOperation, op))


def _cell(ctx, kind, x_proj, hh, h, c):
    """One step: (h', c') from the input projection, the hidden projection and the state."""
    if kind in ("rnn_tanh", "rnn_relu"):
        return _activation(ctx, _math(ctx, x_proj, hh, "SUM"), "TANH" if kind == "rnn_tanh" else "RELU"), None
    hidden = ctx.shape(h)[-1]
    if kind == "lstm":
        gates = _pieces(ctx, _math(ctx, x_proj, hh, "SUM"), [hidden] * 4, 1)
        i, f, o = (_activation(ctx, gates[k], "SIGMOID") for k in (0, 1, 3))
        g = _activation(ctx, gates[2], "TANH")
        c = _math(ctx, _math(ctx, f, c, "PROD"), _math(ctx, i, g, "PROD"), "SUM")
        return _math(ctx, o, _activation(ctx, c, "TANH"), "PROD"), c
    xr, xz, xn = _pieces(ctx, x_proj, [hidden] * 3, 1)
    hr, hz, hn = _pieces(ctx, hh, [hidden] * 3, 1)
    r = _activation(ctx, _math(ctx, xr, hr, "SUM"), "SIGMOID")
    z = _activation(ctx, _math(ctx, xz, hz, "SUM"), "SIGMOID")
    n = _activation(ctx, _math(ctx, xn, _math(ctx, r, hn, "PROD"), "SUM"), "TANH")
    return _math(ctx, _math(ctx, _math(ctx, 1.0, z, "SUB"), n, "PROD"), _math(ctx, z, h, "PROD"), "SUM"), None


def _projection(ctx, x, weight, bias):
    out = matmul_tensors(ctx, x, weight.t())
    return out if bias is None else _math(ctx, out, bias, "SUM")


def _direction(ctx, kind, x, weights, h0, c0, reverse, name):
    """One layer in one direction over x [T, B, I]: (outputs [T, B, H], last h, last c)."""
    w_ih, w_hh, b_ih, b_hh = weights
    steps = ctx.shape(x)[0]
    loop = ctx.network.add_loop()
    loop.name = name  # the evaluator tells loops apart by name
    trips = ctx.constant(np.array(steps, dtype=np.int32))
    loop.add_trip_limit(trips, ctx.trt.TripLimit.COUNT)
    x_proj = ctx.out(loop.add_iterator(_projection(ctx, x, w_ih, b_ih), 0, reverse))
    h_rec = ctx.add(loop.add_recurrence(h0))
    c_rec = ctx.add(loop.add_recurrence(c0)) if c0 is not None else None
    h, c = _cell(ctx, kind, x_proj, _projection(ctx, h_rec.get_output(0), w_hh, b_hh), h_rec.get_output(0),
                 c_rec.get_output(0) if c_rec is not None else None)
    h_rec.set_input(1, h)
    if c_rec is not None:
        c_rec.set_input(1, c)
    sequence = ctx.add(loop.add_loop_output(h, ctx.trt.LoopOutput.REVERSE if reverse else ctx.trt.LoopOutput.CONCATENATE, 0))
    sequence.set_input(1, trips)
    last = [ctx.out(loop.add_loop_output(rec.get_output(0), ctx.trt.LoopOutput.LAST_VALUE))
            for rec in (h_rec, c_rec) if rec is not None]
    return sequence.get_output(0), last[0], (last[1] if c_rec is not None else None)


def _stacked(ctx, tensors):
    """torch.stack(tensors, 0)."""
    return _concat(ctx, [ctx.unsqueeze_to(t, ctx.rank(t) + 1) for t in tensors], 0)


def _concat(ctx, tensors, axis):
    if len(tensors) == 1:
        return tensors[0]
    layer = ctx.network.add_concatenation(tensors)
    layer.axis = normalize_dim(axis, ctx.rank(tensors[0]))
    return ctx.out(layer)


def _recurrent(ctx, node, kind, input, hx, params, has_biases, num_layers, bidirectional, batch_first):
    x = ctx.tensor(input)
    if batch_first:
        x = _transposed(ctx, x)
    h0, c0 = (hx[0], hx[1]) if kind == "lstm" else (hx, None)
    directions = 2 if bidirectional else 1
    per = 4 if has_biases else 2
    last_h, last_c = [], []
    for layer in range(num_layers):
        outputs = []
        for d in range(directions):
            k = layer * directions + d
            w = params[k * per:(k + 1) * per]
            weights = (w[0], w[1], w[2] if has_biases else None, w[3] if has_biases else None)
            seq, h, c = _direction(ctx, kind, x, weights, _state(ctx, h0, k),
                                   _state(ctx, c0, k) if c0 is not None else None, reverse=d == 1,
                                   name=f"{node.name}/loop_{k}")
            outputs.append(seq)
            last_h.append(h)
            last_c.append(c)
        x = _concat(ctx, outputs, -1)
    out = _transposed(ctx, x) if batch_first else x
    h_n = _stacked(ctx, last_h)
    return (out, h_n, _stacked(ctx, last_c)) if kind == "lstm" else (out, h_n)


def _transposed(ctx, x):
    """[B, T, F] <-> [T, B, F]."""
    layer = ctx.network.add_shuffle(x)
    layer.first_transpose = (1, 0, 2)
    return ctx.out(layer)


@converter(aten.lstm.input, checks=_supported)
def lstm(ctx, node, input, hx, params, has_biases, num_layers, dropout, train, bidirectional, batch_first):
    return _recurrent(ctx, node, "lstm", input, hx, params, has_biases, num_layers, bidirectional, batch_first)


@converter(aten.gru.input, aten.rnn_tanh.input, aten.rnn_relu.input, checks=_supported)
def gru(ctx, node, input, hx, params, has_biases, num_layers, dropout, train, bidirectional, batch_first):
    return _recurrent(ctx, node, node.target._opname, input, hx, params, has_biases, num_layers, bidirectional,
                      batch_first)
