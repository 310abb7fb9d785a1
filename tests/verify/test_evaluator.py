"""The reference evaluator against hand-written torch, on networks built directly with tensorrt_rtx.

The networks here are built with the TensorRT API, not with trtbuild's converters, so that a bug
shared by a converter and the evaluator cannot hide.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

trt = pytest.importorskip("tensorrt_rtx")

from trtbuild.errors import ConversionError  # noqa: E402
from trtbuild.verify import evaluator  # noqa: E402
from trtbuild.verify.evaluator import EvaluationError, evaluate  # noqa: E402



class _Logger(trt.ILogger):
    def __init__(self):
        trt.ILogger.__init__(self)
        self.errors: list[str] = []

    def log(self, severity, msg):
        if severity in (trt.ILogger.Severity.ERROR, trt.ILogger.Severity.INTERNAL_ERROR):
            self.errors.append(msg)


class Net:
    """A network under construction, with helpers; `run` checks TensorRT accepted every layer."""

    def __init__(self):
        self.logger = _Logger()
        self.builder = trt.Builder(self.logger)
        self.network = self.builder.create_network(0)
        self.keep: list[np.ndarray] = []  # numpy arrays behind trt.Weights must outlive the network
        self.n = self.network

    def input(self, name, shape, dtype=trt.float32):
        return self.n.add_input(name, dtype, tuple(shape))

    def array(self, value, dtype=None) -> np.ndarray:
        array = np.array(value, dtype=dtype, order="C")  # keeps 0-D arrays 0-D
        self.keep.append(array)
        return array

    def const(self, value, dtype=np.float32):
        array = self.array(value.numpy() if isinstance(value, torch.Tensor) else value, dtype)
        return self.n.add_constant(array.shape, array).get_output(0)

    def out(self, layer_or_tensor, name="y", index=0):
        tensor = layer_or_tensor if isinstance(layer_or_tensor, trt.ITensor) else layer_or_tensor.get_output(index)
        tensor.name = name
        self.n.mark_output(tensor)
        return tensor

    def run(self, **inputs):
        for i in range(self.n.num_layers):  # definition errors are lazy: query every output shape
            layer = self.n.get_layer(i)
            for j in range(layer.num_outputs):
                try:
                    tuple(layer.get_output(j).shape)
                except RuntimeError:
                    raise AssertionError(f"TensorRT rejected {layer.name}: {self.logger.errors}") from None
        assert not self.logger.errors, self.logger.errors
        return evaluate(self.n, inputs, trt=trt)


def close(a, b, atol=1e-5, rtol=1e-5):
    assert a.shape == b.shape, (a.shape, b.shape)
    assert a.dtype == b.dtype, (a.dtype, b.dtype)
    torch.testing.assert_close(a, b, atol=atol, rtol=rtol)


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


# ---------------------------------------------------------------- convolution and pooling

def test_conv_groups_dilation_asymmetric_padding():
    net = Net()
    x, w, b = torch.randn(2, 4, 9, 8), torch.randn(6, 2, 3, 2), torch.randn(6)
    conv = net.n.add_convolution_nd(net.input("x", x.shape), 6, (3, 2), net.array(w.numpy()), net.array(b.numpy()))
    conv.num_groups, conv.dilation_nd, conv.stride_nd = 2, (2, 1), (1, 2)
    conv.pre_padding, conv.post_padding = (1, 0), (2, 3)
    net.out(conv)
    expected = F.conv2d(F.pad(x, (0, 3, 1, 2)), w, b, stride=(1, 2), dilation=(2, 1), groups=2)
    close(net.run(x=x)["y"], expected, atol=1e-4, rtol=1e-4)


def test_conv3d_same_upper_and_kernel_from_tensor():
    net = Net()
    x, w = torch.randn(1, 2, 5, 6, 7), torch.randn(3, 2, 2, 3, 3)
    conv = net.n.add_convolution_nd(net.input("x", x.shape), 3, (2, 3, 3), trt.Weights(), trt.Weights())
    conv.set_input(1, net.const(w))
    conv.stride_nd, conv.padding_mode = (2, 2, 2), trt.PaddingMode.SAME_UPPER
    net.out(conv)
    # SAME_UPPER: out = ceil(n / s), total padding P, floor(P/2) before
    pads = []
    for n, k in zip((5, 6, 7), (2, 3, 3)):
        total = max(0, (math.ceil(n / 2) - 1) * 2 + k - n)
        pads.append((total // 2, total - total // 2))
    flat = [p for pair in reversed(pads) for p in pair]
    close(net.run(x=x)["y"], F.conv3d(F.pad(x, flat), w, stride=2), atol=1e-4, rtol=1e-4)


def test_conv_half_precision_rounds_to_declared_dtype():
    net = Net()
    x, w = torch.randn(1, 3, 6, 6).half(), torch.randn(4, 3, 3, 3).half()
    tx = net.input("x", x.shape, trt.float16)
    net.out(net.n.add_convolution_nd(tx, 4, (3, 3), net.array(w.numpy()), trt.Weights()))
    y = net.run(x=x)["y"]
    close(y, F.conv2d(x.float(), w.float()).half(), atol=1e-2, rtol=1e-2)


def test_deconvolution_stride_groups_crop():
    net = Net()
    x, w, b = torch.randn(1, 4, 5, 6), torch.randn(4, 3, 3, 4), torch.randn(6)
    layer = net.n.add_deconvolution_nd(net.input("x", x.shape), 6, (3, 4), net.array(w.numpy()), net.array(b.numpy()))
    layer.num_groups, layer.stride_nd = 2, (2, 3)
    layer.pre_padding, layer.post_padding = (1, 0), (0, 2)
    net.out(layer)
    full = F.conv_transpose2d(x, w, b, stride=(2, 3), groups=2)
    close(net.run(x=x)["y"], full[:, :, 1:, : full.shape[3] - 2], atol=1e-4, rtol=1e-4)


def _pool(net, x, kind, window, stride, pre=(0, 0), post=(0, 0), mode=None):
    layer = net.n.add_pooling_nd(net.input("x", x.shape), kind, window)
    layer.stride_nd, layer.pre_padding, layer.post_padding = stride, pre, post
    if mode is not None:
        layer.padding_mode = mode
    return layer


def test_max_pool_explicit_round_up_is_ceil_mode():
    net = Net()
    x = torch.randn(1, 2, 6, 7)
    layer = _pool(net, x, trt.PoolingType.MAX, (3, 3), (2, 2), mode=trt.PaddingMode.EXPLICIT_ROUND_UP)
    net.out(layer)
    close(net.run(x=x)["y"], F.max_pool2d(x, 3, 2, ceil_mode=True))


def test_max_pool_post_padding_is_minus_infinity():
    net = Net()
    x = torch.randn(1, 2, 5, 5) - 10  # all negative: zero padding would win the max
    net.out(_pool(net, x, trt.PoolingType.MAX, (2, 2), (2, 2), pre=(1, 0), post=(2, 1)))
    expected = F.max_pool2d(F.pad(x, (0, 1, 1, 2), value=-math.inf), 2, 2)
    close(net.run(x=x)["y"], expected)


@pytest.mark.parametrize("excludes", [True, False])
def test_average_pool_count_padding(excludes):
    net = Net()
    x = torch.randn(2, 3, 7, 6)
    layer = _pool(net, x, trt.PoolingType.AVERAGE, (3, 3), (2, 1), pre=(1, 1), post=(1, 1))
    layer.average_count_excludes_padding = excludes
    net.out(layer)
    expected = F.avg_pool2d(x, 3, (2, 1), padding=1, count_include_pad=not excludes)
    close(net.run(x=x)["y"], expected)


def test_average_pool_3d_and_round_up_tail_not_counted():
    net = Net()
    x = torch.randn(1, 2, 5, 6, 7)
    layer = net.n.add_pooling_nd(net.input("x", x.shape), trt.PoolingType.AVERAGE, (2, 2, 2))
    layer.stride_nd, layer.padding_mode = (2, 2, 2), trt.PaddingMode.EXPLICIT_ROUND_UP
    net.out(layer)
    close(net.run(x=x)["y"], F.avg_pool3d(x, 2, 2, ceil_mode=True))


# ---------------------------------------------------------------- pointwise

SELU_ALPHA, SELU_SCALE = 1.6732632423543772, 1.0507009873554805
ACTIVATIONS = [
    ("RELU", 0, 0, torch.relu), ("SIGMOID", 0, 0, torch.sigmoid), ("TANH", 0, 0, torch.tanh),
    ("LEAKY_RELU", 0.1, 0, lambda x: F.leaky_relu(x, 0.1)), ("ELU", 0.7, 0, lambda x: F.elu(x, 0.7)),
    ("SELU", SELU_ALPHA, SELU_SCALE, F.selu), ("SOFTSIGN", 0, 0, F.softsign),
    ("SOFTPLUS", 1.5, 2.0, lambda x: 1.5 * torch.log1p(torch.exp(2.0 * x))),
    ("CLIP", -0.5, 0.75, lambda x: x.clamp(-0.5, 0.75)),
    ("HARD_SIGMOID", 1 / 6, 0.5, F.hardsigmoid), ("SCALED_TANH", 1.5, 0.5, lambda x: 1.5 * torch.tanh(0.5 * x)),
    ("THRESHOLDED_RELU", 0.3, 0, lambda x: F.threshold(x, 0.3, 0.0)), ("GELU_ERF", 0, 0, F.gelu),
    ("GELU_TANH", 0, 0, lambda x: F.gelu(x, approximate="tanh")),
]


@pytest.mark.parametrize("kind,alpha,beta,reference", ACTIVATIONS, ids=[a[0] for a in ACTIVATIONS])
def test_activation(kind, alpha, beta, reference):
    net = Net()
    x = torch.randn(3, 17) * 3
    layer = net.n.add_activation(net.input("x", x.shape), getattr(trt.ActivationType, kind))
    layer.alpha, layer.beta = alpha, beta
    net.out(layer)
    close(net.run(x=x)["y"], reference(x), atol=1e-5, rtol=1e-4)


def test_elementwise_float_ops_broadcast():
    ops = {"SUM": torch.add, "PROD": torch.mul, "MAX": torch.maximum, "MIN": torch.minimum, "SUB": torch.sub,
           "DIV": torch.div, "POW": torch.pow, "FLOOR_DIV": lambda a, b: torch.floor(a / b),
           "EQUAL": torch.eq, "GREATER": torch.gt, "LESS": torch.lt}
    net = Net()
    a, b = torch.rand(2, 1, 4) + 0.5, torch.rand(1, 3, 4) * 3 - 1.5
    b[0, 0, 0] = a[0, 0, 0]  # an equal pair
    ta, tb = net.input("a", a.shape), net.input("b", b.shape)
    for name in ops:
        layer = net.n.add_elementwise(ta, tb, getattr(trt.ElementWiseOperation, name))
        net.out(layer, name)
    outs = net.run(a=a, b=b)
    for name, ref in ops.items():
        close(outs[name], ref(a, b))
    assert outs["EQUAL"].dtype == torch.bool and outs["EQUAL"].shape == (2, 3, 4) and outs["EQUAL"].any()


def test_elementwise_integer_division_and_logic():
    net = Net()
    a, b = torch.tensor([7, -7, 7, -7], dtype=torch.int32), torch.tensor([2, 2, -2, -2], dtype=torch.int32)
    ta, tb = net.input("a", (4,), trt.int32), net.input("b", (4,), trt.int32)
    net.out(net.n.add_elementwise(ta, tb, trt.ElementWiseOperation.DIV), "div")
    net.out(net.n.add_elementwise(ta, tb, trt.ElementWiseOperation.FLOOR_DIV), "floor_div")
    p, q = torch.tensor([True, True, False, False]), torch.tensor([True, False, True, False])
    tp, tq = net.input("p", (4,), trt.bool), net.input("q", (4,), trt.bool)
    for op in ("AND", "OR", "XOR"):
        net.out(net.n.add_elementwise(tp, tq, getattr(trt.ElementWiseOperation, op)), op)
    outs = net.run(a=a, b=b, p=p, q=q)
    close(outs["div"], torch.tensor([3, -3, -3, 3], dtype=torch.int32))
    close(outs["floor_div"], torch.tensor([3, -4, -4, 3], dtype=torch.int32))
    close(outs["AND"], p & q)
    close(outs["OR"], p | q)
    close(outs["XOR"], p ^ q)


UNARY = {"EXP": torch.exp, "LOG": torch.log, "SQRT": torch.sqrt, "RECIP": torch.reciprocal, "ABS": torch.abs,
         "NEG": torch.neg, "SIN": torch.sin, "COS": torch.cos, "TAN": torch.tan, "SINH": torch.sinh,
         "COSH": torch.cosh, "ASIN": torch.asin, "ACOS": torch.acos, "ATAN": torch.atan, "ASINH": torch.asinh,
         "ATANH": torch.atanh, "CEIL": torch.ceil, "FLOOR": torch.floor, "ERF": torch.erf, "SIGN": torch.sign,
         "ISINF": torch.isinf, "ISNAN": torch.isnan}


def test_unary_ops():
    net = Net()
    x = torch.rand(2, 5) * 0.9 + 0.05  # inside every op's domain
    tx = net.input("x", x.shape)
    for name in UNARY:
        net.out(net.n.add_unary(tx, getattr(trt.UnaryOperation, name)), name)
    big = torch.rand(5) + 1.5
    net.out(net.n.add_unary(net.input("big", big.shape), trt.UnaryOperation.ACOSH), "ACOSH")
    r = torch.tensor([0.5, 1.5, 2.5, -0.5, -1.5, 2.4])
    net.out(net.n.add_unary(net.input("r", r.shape), trt.UnaryOperation.ROUND), "ROUND")
    p = torch.tensor([True, False])
    net.out(net.n.add_unary(net.input("p", p.shape, trt.bool), trt.UnaryOperation.NOT), "NOT")
    outs = net.run(x=x, big=big, r=r, p=p)
    for name, ref in UNARY.items():
        close(outs[name], ref(x))
    close(outs["ACOSH"], torch.acosh(big))
    close(outs["ROUND"], torch.tensor([0.0, 2.0, 2.0, -0.0, -2.0, 2.0]))  # half to even
    close(outs["NOT"], torch.tensor([False, True]))


def test_parametric_relu_and_select():
    net = Net()
    x, slope = torch.randn(2, 3, 4), torch.rand(1, 3, 1)
    tx = net.input("x", x.shape)
    net.out(net.n.add_parametric_relu(tx, net.const(slope)), "prelu")
    cond = net.n.add_elementwise(tx, net.const(np.zeros((1, 1, 1))), trt.ElementWiseOperation.GREATER).get_output(0)
    net.out(net.n.add_select(cond, tx, net.const(np.full((1, 3, 1), 7.0))), "select")
    outs = net.run(x=x)
    close(outs["prelu"], torch.where(x >= 0, x, x * slope))
    close(outs["select"], torch.where(x > 0, x, torch.full_like(x, 7.0)))


def test_scale_modes():
    net = Net()
    x = torch.rand(2, 3, 4, 5) + 0.1
    tx = net.input("x", x.shape)
    shift, scale, power = torch.randn(3), torch.rand(3) + 0.5, torch.tensor([1.0, 2.0, 0.5])
    net.out(net.n.add_scale_nd(tx, trt.ScaleMode.CHANNEL, net.array(shift.numpy()), net.array(scale.numpy()),
                               net.array(power.numpy()), 1), "channel")
    net.out(net.n.add_scale(tx, trt.ScaleMode.UNIFORM, net.array([0.5], np.float32), net.array([2.0], np.float32),
                            trt.Weights()), "uniform")
    ew = torch.randn(3, 4, 5)
    net.out(net.n.add_scale(tx, trt.ScaleMode.ELEMENTWISE, trt.Weights(), net.array(ew.numpy()), trt.Weights()),
            "elementwise")
    outs = net.run(x=x)
    c = (1, 3, 1, 1)
    close(outs["channel"], torch.pow(x * scale.view(c) + shift.view(c), power.view(c)), rtol=1e-4, atol=1e-5)
    close(outs["uniform"], x * 2.0 + 0.5)
    close(outs["elementwise"], x * ew)


# ---------------------------------------------------------------- reductions and normalization

@pytest.mark.parametrize("keep", [True, False])
def test_reduce_ops_keep_dims(keep):
    net = Net()
    x = torch.rand(2, 3, 4) + 0.5
    tx = net.input("x", x.shape)
    for op in ("SUM", "PROD", "MAX", "MIN", "AVG"):
        net.out(net.n.add_reduce(tx, getattr(trt.ReduceOperation, op), 0b101, keep), op)
    outs = net.run(x=x)
    close(outs["SUM"], x.sum((0, 2), keepdim=keep))
    close(outs["PROD"], x.prod(2, keepdim=True).prod(0, keepdim=True).reshape(outs["SUM"].shape))
    close(outs["MAX"], x.amax((0, 2), keepdim=keep))
    close(outs["MIN"], x.amin((0, 2), keepdim=keep))
    close(outs["AVG"], x.mean((0, 2), keepdim=keep))


def test_softmax_and_concatenation_axes():
    net = Net()
    x, z = torch.randn(2, 3, 4), torch.randn(2, 1, 4)
    tx, tz = net.input("x", x.shape), net.input("z", z.shape)
    sm = net.n.add_softmax(tx)
    sm.axes = 1 << 2
    net.out(sm, "softmax")
    default = net.n.add_softmax(tx)  # default axis: rank - 3 = 0
    net.out(default, "softmax0")
    cat = net.n.add_concatenation([tx, tz, tx])
    cat.axis = 1
    net.out(cat, "cat")
    outs = net.run(x=x, z=z)
    close(outs["softmax"], torch.softmax(x, 2))
    close(outs["softmax0"], torch.softmax(x, 0))
    close(outs["cat"], torch.cat([x, z, x], 1))


def test_normalization_layer_and_group_norm():
    net = Net()
    x = torch.randn(2, 6, 4, 5)
    tx = net.input("x", x.shape)
    w, b = torch.randn(1, 1, 1, 5), torch.randn(1, 1, 1, 5)
    ln = net.n.add_normalization_v2(tx, net.const(w), net.const(b), 1 << 3)
    ln.epsilon = 1e-3
    net.out(ln, "layer")
    gw, gb = torch.randn(6), torch.randn(6)
    gn = net.n.add_normalization_v2(tx, net.const(gw.view(1, 6, 1, 1)), net.const(gb.view(1, 6, 1, 1)), 0b1100)
    gn.num_groups = 3
    net.out(gn, "group_v2")
    sw, sb = torch.randn(3), torch.randn(3)
    gn1 = net.n.add_normalization(tx, net.const(sw.view(1, 3, 1, 1)), net.const(sb.view(1, 3, 1, 1)), 0b1100)
    gn1.num_groups = 3
    net.out(gn1, "group_v1")
    outs = net.run(x=x)
    close(outs["layer"], F.layer_norm(x, (5,), w.flatten(), b.flatten(), eps=1e-3), atol=1e-5, rtol=1e-4)
    close(outs["group_v2"], F.group_norm(x, 3, gw, gb, eps=1e-5), atol=1e-5, rtol=1e-4)
    per_group = F.group_norm(x, 3, eps=1e-5).view(2, 3, -1) * sw.view(1, 3, 1) + sb.view(1, 3, 1)
    close(outs["group_v1"], per_group.view(x.shape), atol=1e-5, rtol=1e-4)


def _attention(net, q, k, v, causal=trt.CausalMaskKind.NONE, mask=None):
    att = net.n.add_attention_v2(q, k, v, trt.AttentionNormalizationOp.SOFTMAX, causal)
    if mask is not None:
        att.mask = mask
    att.decomposable = True
    return att.get_output(0)


def test_attention_masks_causal_kinds_and_grouped_heads():
    net = Net()
    q, k, v = torch.randn(2, 4, 3, 8), torch.randn(2, 2, 5, 8), torch.randn(2, 2, 5, 8)
    keep = torch.rand(2, 1, 3, 5) > 0.3
    keep[..., 0] = True  # no row fully masked
    bias = torch.randn(1, 4, 3, 5)
    tq, tk, tv = net.input("q", q.shape), net.input("k", k.shape), net.input("v", v.shape)
    net.out(_attention(net, tq, tk, tv, mask=net.input("keep", keep.shape, trt.bool)), "bool_mask")
    net.out(_attention(net, tq, tk, tv, mask=net.const(bias)), "add_mask")
    net.out(_attention(net, tq, tk, tv, trt.CausalMaskKind.UPPER_LEFT), "upper_left")
    net.out(_attention(net, tq, tk, tv, trt.CausalMaskKind.LOWER_RIGHT), "lower_right")
    outs = net.run(q=q, k=k, v=v, keep=keep)
    kk, vv = k.repeat_interleave(2, 1), v.repeat_interleave(2, 1)  # query heads 0, 1 read kv head 0

    def sdpa(**kw):  # scale 1: IAttention does not scale Q·Kᵀ
        return F.scaled_dot_product_attention(q, kk, vv, scale=1.0, **kw)

    close(outs["bool_mask"], sdpa(attn_mask=keep), atol=1e-5, rtol=1e-4)
    close(outs["add_mask"], sdpa(attn_mask=bias), atol=1e-5, rtol=1e-4)
    close(outs["upper_left"], sdpa(is_causal=True), atol=1e-5, rtol=1e-4)
    lower_right = torch.ones(3, 5, dtype=torch.bool).tril(5 - 3)
    close(outs["lower_right"], sdpa(attn_mask=lower_right), atol=1e-5, rtol=1e-4)


def test_topk_and_cumulative():
    net = Net()
    x = torch.randn(3, 8)
    tx = net.input("x", x.shape)
    top = net.n.add_topk(tx, trt.TopKOperation.MAX, 3, 1 << 1)
    net.out(top, "values", 0)
    net.out(top, "indices", 1)
    low = net.n.add_topk(tx, trt.TopKOperation.MIN, 2, 1 << 0)
    net.out(low, "low", 0)
    axis = net.const(np.array(1, np.int32), np.int32)
    for name, exclusive, reverse in (("cum", False, False), ("excl", True, False), ("rev", False, True),
                                     ("excl_rev", True, True)):
        net.out(net.n.add_cumulative(tx, axis, trt.CumulativeOperation.SUM, exclusive, reverse), name)
    outs = net.run(x=x)
    values, indices = torch.topk(x, 3, 1)
    close(outs["values"], values)
    close(outs["indices"], indices.int())
    close(outs["low"], torch.topk(x, 2, 0, largest=False).values)
    close(outs["cum"], x.cumsum(1))
    close(outs["excl"], F.pad(x.cumsum(1)[:, :-1], (1, 0)))
    close(outs["rev"], x.flip(1).cumsum(1).flip(1))
    close(outs["excl_rev"], F.pad(x.flip(1).cumsum(1)[:, :-1], (1, 0)).flip(1))


# ---------------------------------------------------------------- data movement

def test_shuffle_transposes_placeholders_and_minus_one():
    net = Net()
    x = torch.randn(2, 3, 4, 5)
    layer = net.n.add_shuffle(net.input("x", x.shape))
    layer.first_transpose = (0, 2, 1, 3)
    layer.reshape_dims = (0, 0, -1)
    layer.second_transpose = (2, 0, 1)
    net.out(layer)
    close(net.run(x=x)["y"], x.permute(0, 2, 1, 3).reshape(2, 4, 15).permute(2, 0, 1))


def test_slice_negative_stride_and_modes():
    net = Net()
    x = torch.arange(20.0).reshape(4, 5)
    tx = net.input("x", x.shape)
    net.out(net.n.add_slice(tx, (3, 4), (4, 3), (-1, -2)), "reverse")
    for mode in ("WRAP", "CLAMP", "FILL", "REFLECT"):
        layer = net.n.add_slice(tx, (-2, 1), (3, 6), (2, 1))
        layer.mode = getattr(trt.SampleMode, mode)
        if mode == "FILL":
            layer.set_input(4, net.const(np.array(-1.0, np.float32)))
        net.out(layer, mode)
    outs = net.run(x=x)
    close(outs["reverse"], x[[3, 2, 1, 0]][:, [4, 2, 0]])
    rows, cols = torch.tensor([-2, 0, 2]), torch.arange(1, 7)
    close(outs["WRAP"], x[rows % 4][:, cols % 5])
    close(outs["CLAMP"], x[rows.clamp(0, 3)][:, cols.clamp(0, 4)])
    fill = x[rows.clamp(0, 3)][:, cols.clamp(0, 4)]
    fill[0, :] = -1.0
    fill[:, 4:] = -1.0
    close(outs["FILL"], fill)
    reflect = lambda i, n: torch.where(i % (2 * n - 2) >= n, 2 * n - 2 - i % (2 * n - 2), i % (2 * n - 2))  # noqa: E731
    close(outs["REFLECT"], x[reflect(rows, 4)][:, reflect(cols, 5)])


def test_slice_reflect_is_reflection_padding():
    net = Net()
    x = torch.randn(2, 6)
    layer = net.n.add_slice(net.input("x", x.shape), (0, -3), (2, 12), (1, 1))
    layer.mode = trt.SampleMode.REFLECT
    net.out(layer)
    close(net.run(x=x)["y"], F.pad(x[None], (3, 3), mode="reflect")[0])


def test_slice_dynamic_start_size_and_axes():
    net = Net()
    x = torch.randn(3, 6, 4)
    tx = net.input("x", x.shape)
    layer = net.n.add_slice(tx, (0, 0, 0), (0, 0, 0), (1, 1, 1))
    layer.set_input(1, net.const(np.array([1, 1, 0], np.int64), np.int64))
    layer.set_input(2, net.const(np.array([2, 2, 4], np.int64), np.int64))
    layer.set_input(3, net.const(np.array([1, 2, 1], np.int64), np.int64))
    net.out(layer, "dynamic")
    axes = net.n.add_slice(tx, (4,), (2,), (-1,))
    axes.set_input(5, net.const(np.array([-2], np.int64), np.int64))
    net.out(axes, "axes")
    outs = net.run(x=x)
    close(outs["dynamic"], x[1:3, 1:5:2, :])
    close(outs["axes"], x[:, [4, 3], :])


def test_padding_squeeze_unsqueeze():
    net = Net()
    x = torch.randn(2, 3, 4, 5)
    tx = net.input("x", x.shape)
    net.out(net.n.add_padding_nd(tx, (1, -1), (2, 0)), "pad")
    unsq = net.n.add_unsqueeze(tx, net.const(np.array([0, -1], np.int64), np.int64))
    net.out(unsq, "unsqueeze")
    net.out(net.n.add_squeeze(unsq.get_output(0), net.const(np.array([5, 0], np.int64), np.int64)), "squeeze")
    outs = net.run(x=x)
    close(outs["pad"], F.pad(x, (-1, 0, 1, 2)))
    close(outs["unsqueeze"], x[None, ..., None])
    close(outs["squeeze"], x)


def test_gather_modes():
    net = Net()
    x = torch.randn(3, 4, 5)
    tx = net.input("x", x.shape)
    idx = torch.tensor([[2, 0], [-1, 1]], dtype=torch.int32)
    net.out(net.n.add_gather(tx, net.const(idx, np.int32), 1), "default")
    eidx = torch.randint(0, 3, (3, 2, 5), dtype=torch.int32)
    net.out(net.n.add_gather_v2(tx, net.const(eidx, np.int32), trt.GatherMode.ELEMENT), "element")
    eidx1 = torch.randint(0, 4, (3, 2, 5), dtype=torch.int32)
    last = net.n.add_gather_v2(tx, net.const(eidx1, np.int32), trt.GatherMode.ELEMENT)
    last.axis = 1
    net.out(last, "element_axis1")
    nidx = torch.tensor([[0, 1], [2, 3], [1, 0]], dtype=torch.int32)
    net.out(net.n.add_gather_v2(tx, net.const(nidx, np.int32), trt.GatherMode.ND), "nd")
    bidx = torch.tensor([[1], [3], [0]], dtype=torch.int32)
    nd_batch = net.n.add_gather_v2(tx, net.const(bidx, np.int32), trt.GatherMode.ND)
    nd_batch.num_elementwise_dims = 1
    net.out(nd_batch, "nd_batch")
    outs = net.run(x=x)
    close(outs["default"], x[:, idx.long() % 4, :])
    close(outs["element"], torch.gather(x, 0, eidx.long()))
    close(outs["element_axis1"], torch.gather(x, 1, eidx1.long()))
    close(outs["nd"], torch.stack([x[0, 1], x[2, 3], x[1, 0]]))
    close(outs["nd_batch"], torch.stack([x[0, 1], x[1, 3], x[2, 0]]))


def test_scatter_element_and_one_hot():
    net = Net()
    data, updates = torch.zeros(3, 4), torch.randn(2, 4)
    idx = torch.tensor([[0, 1, 2, 0], [2, 0, 1, 1]], dtype=torch.int32)
    scatter = net.n.add_scatter(net.input("d", data.shape), net.const(idx, np.int32), net.input("u", updates.shape),
                                trt.ScatterMode.ELEMENT)
    scatter.axis = 0
    net.out(scatter, "scatter")
    hot_idx = torch.tensor([[0, 3], [-1, 5]], dtype=torch.int32)
    hot = net.n.add_one_hot(net.const(hot_idx, np.int32), net.const(np.array([0.5, 2.0])),
                            net.const(np.array(4, np.int32), np.int32), 1)
    net.out(hot, "one_hot")
    outs = net.run(d=data, u=updates)
    close(outs["scatter"], data.scatter(0, idx.long(), updates))
    expected = torch.full((2, 4, 2), 0.5)
    for i, j, k in ((0, 0, 0), (0, 3, 1), (1, 3, 0)):  # -1 counts from depth; 5 is out of range: all off
        expected[i, j, k] = 2.0
    close(outs["one_hot"], expected)


def test_scatter_nd_writes_slices_at_index_tuples():
    net = Net()
    data, updates = torch.zeros(4, 3, 2), torch.randn(2, 2)
    idx = torch.tensor([[0, 2], [3, 1]], dtype=torch.int64)  # two (dim0, dim1) pairs, each writes a row of 2
    scatter = net.n.add_scatter(net.input("d", data.shape), net.const(idx, np.int64), net.input("u", updates.shape),
                                trt.ScatterMode.ND)
    net.out(scatter)
    expected = data.clone()
    expected[0, 2], expected[3, 1] = updates[0], updates[1]
    close(net.run(d=data, u=updates)["y"], expected)


GRID_MODES = [(interp, sample, align) for interp in ("NEAREST", "LINEAR", "CUBIC")
              for sample in ("FILL", "CLAMP", "REFLECT") for align in (False, True)]
TORCH_GRID = {"NEAREST": "nearest", "LINEAR": "bilinear", "CUBIC": "bicubic",
              "FILL": "zeros", "CLAMP": "border", "REFLECT": "reflection"}


@pytest.mark.parametrize("interp, sample, align", GRID_MODES)
def test_grid_sample_modes_match_torch_grid_sample(interp, sample, align):
    net = Net()
    x, grid = torch.randn(2, 3, 5, 4), torch.rand(2, 6, 7, 2) * 2.8 - 1.4  # some points outside [-1, 1]
    layer = net.n.add_grid_sample(net.input("x", x.shape), net.input("g", grid.shape))
    layer.interpolation_mode = getattr(trt.InterpolationMode, interp)
    layer.sample_mode = getattr(trt.SampleMode, sample)
    layer.align_corners = align
    net.out(layer)
    expected = F.grid_sample(x.double(), grid.double(), TORCH_GRID[interp], TORCH_GRID[sample], align).float()
    close(net.run(x=x, g=grid)["y"], expected)


def test_matrix_multiply_ops_and_batch_broadcast():
    net = Net()
    a, b, v = torch.randn(2, 1, 3, 4), torch.randn(1, 5, 6, 4), torch.randn(1, 1, 4)
    ta, tb, tv = net.input("a", a.shape), net.input("b", b.shape), net.input("v", v.shape)
    net.out(net.n.add_matrix_multiply(ta, trt.MatrixOperation.NONE, tb, trt.MatrixOperation.TRANSPOSE), "nt")
    net.out(net.n.add_matrix_multiply(ta, trt.MatrixOperation.TRANSPOSE, ta, trt.MatrixOperation.NONE), "tn")
    net.out(net.n.add_matrix_multiply(ta, trt.MatrixOperation.NONE, tv, trt.MatrixOperation.VECTOR), "mv")
    v3 = torch.randn(2, 1, 3)
    tv3 = net.input("v3", v3.shape)
    net.out(net.n.add_matrix_multiply(tv3, trt.MatrixOperation.VECTOR, ta, trt.MatrixOperation.NONE), "vm")
    outs = net.run(a=a, b=b, v=v, v3=v3)
    close(outs["nt"], a @ b.transpose(-1, -2), atol=1e-5, rtol=1e-4)
    close(outs["tn"], a.transpose(-1, -2) @ a, atol=1e-5, rtol=1e-4)
    close(outs["mv"], (a @ v.unsqueeze(-1)).squeeze(-1), atol=1e-5, rtol=1e-4)
    close(outs["vm"], (v3.unsqueeze(-2) @ a).squeeze(-2), atol=1e-5, rtol=1e-4)


def test_einsum():
    net = Net()
    a, b = torch.randn(2, 3, 4), torch.randn(2, 5, 4)
    net.out(net.n.add_einsum([net.input("a", a.shape), net.input("b", b.shape)], "bij,bkj->bik"))
    close(net.run(a=a, b=b)["y"], torch.einsum("bij,bkj->bik", a, b), atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("mode,transform,rounding,size,scales,reference", [
    ("NEAREST", "ASYMMETRIC", "FLOOR", None, (1, 1, 2, 3), lambda x: F.interpolate(x, scale_factor=(2, 3))),
    ("NEAREST", "HALF_PIXEL", "HALF_UP", (1, 2, 7, 5), None,
     lambda x: F.interpolate(x, size=(7, 5), mode="nearest-exact")),
    ("LINEAR", "HALF_PIXEL", "FLOOR", (1, 2, 7, 11), None,
     lambda x: F.interpolate(x, size=(7, 11), mode="bilinear", align_corners=False)),
    ("LINEAR", "ALIGN_CORNERS", "FLOOR", (1, 2, 3, 9), None,
     lambda x: F.interpolate(x, size=(3, 9), mode="bilinear", align_corners=True)),
    ("CUBIC", "HALF_PIXEL", "FLOOR", (1, 2, 8, 10), None,
     lambda x: F.interpolate(x, size=(8, 10), mode="bicubic", align_corners=False)),
    ("LINEAR", "HALF_PIXEL", "FLOOR", None, (1, 1, 1.5, 0.75),
     lambda x: F.interpolate(x, scale_factor=(1.5, 0.75), mode="bilinear", align_corners=False)),
    ("CUBIC", "ALIGN_CORNERS", "FLOOR", None, (1, 1, 2.0, 1.6),
     lambda x: F.interpolate(x, scale_factor=(2.0, 1.6), mode="bicubic", align_corners=True)),
    ("NEAREST", "HALF_PIXEL", "HALF_UP", None, (1, 1, 0.5, 1.6),
     lambda x: F.interpolate(x, scale_factor=(0.5, 1.6), mode="nearest-exact")),
], ids=["nearest", "nearest_exact", "bilinear", "bilinear_align", "bicubic", "bilinear_scales", "bicubic_align_scales",
        "nearest_exact_scales"])
def test_resize(mode, transform, rounding, size, scales, reference):
    net = Net()
    x = torch.randn(1, 2, 4, 5)
    layer = net.n.add_resize(net.input("x", x.shape))
    layer.resize_mode = getattr(trt.InterpolationMode, mode)
    layer.coordinate_transformation = getattr(trt.ResizeCoordinateTransformation, transform)
    layer.nearest_rounding = getattr(trt.ResizeRoundMode, rounding)
    if size:
        layer.shape = size
    else:
        layer.scales = scales
    net.out(layer)
    close(net.run(x=x)["y"], reference(x), atol=1e-5, rtol=1e-4)


def test_resize_output_shape_from_tensor():
    net = Net()
    x = torch.randn(1, 1, 3, 3)
    layer = net.n.add_resize(net.input("x", x.shape))
    layer.set_input(1, net.const(np.array([1, 1, 6, 6], np.int64), np.int64))
    net.out(layer)
    close(net.run(x=x)["y"], F.interpolate(x, size=(6, 6)))


# ---------------------------------------------------------------- sources, casts and shape tensors

def test_constant_cast_identity():
    net = Net()
    w = torch.tensor([[1.7, -1.7], [2.5, -0.2]], dtype=torch.float16)
    c = net.const(w.numpy(), np.float16)
    net.out(c, "const")
    net.out(net.n.add_cast(c, trt.int32), "int")
    net.out(net.n.add_cast(c, trt.bool), "bool")
    net.out(net.n.add_identity(c), "identity")
    ints = net.const(np.array([3, 4], np.int64), np.int64)
    net.out(net.n.add_cast(ints, trt.float32), "float")
    outs = net.run()
    close(outs["const"], w)
    close(outs["int"], torch.tensor([[1, -1], [2, 0]], dtype=torch.int32))  # truncation
    close(outs["bool"], torch.tensor([[True, True], [True, True]]))
    close(outs["identity"], w)
    close(outs["float"], torch.tensor([3.0, 4.0]))


def test_fill_linspace_static_and_dynamic():
    net = Net()
    fill = net.n.add_fill((5,), trt.FillOperation.LINSPACE, trt.float32)
    fill.alpha, fill.beta = 1.0, 0.5
    net.out(fill, "static")
    grid = net.n.add_fill((0,), trt.FillOperation.LINSPACE, trt.int64)
    grid.set_input(0, net.const(np.array([2, 3], np.int64), np.int64))
    grid.set_input(1, net.const(np.array(1, np.int64), np.int64))
    grid.set_input(2, net.const(np.array([10, 2], np.int64), np.int64))
    net.out(grid, "dynamic")
    rand = net.n.add_fill((2, 3), trt.FillOperation.RANDOM_UNIFORM, trt.float32)
    rand.alpha, rand.beta = 2.0, 3.0
    net.out(rand, "random")
    outs = net.run()
    close(outs["static"], torch.arange(5) * 0.5 + 1.0)
    close(outs["dynamic"], torch.tensor([[1, 3, 5], [11, 13, 15]]))
    assert outs["random"].shape == (2, 3) and bool(((outs["random"] >= 2) & (outs["random"] < 3)).all())


def test_fill_random_normal_mean_and_std():
    net = Net()
    normal = net.n.add_fill((4000,), trt.FillOperation.RANDOM_NORMAL, trt.float16)
    normal.alpha, normal.beta = 3.0, 0.5  # mean, standard deviation
    net.out(normal)
    y = net.run()["y"]
    assert y.dtype == torch.float16 and y.shape == (4000,)
    assert abs(float(y.float().mean()) - 3.0) < 0.05 and abs(float(y.float().std()) - 0.5) < 0.05


def test_dynamic_reshape_from_shape_tensor():
    """x: (-1, 3, 4) -> reshape to (N * 3, 4) with dims computed from Shape, Gather, ElementWise, Concat."""
    net = Net()
    tx = net.input("x", (-1, 3, 4))
    shape = net.n.add_shape(tx).get_output(0)
    dims = net.n.add_gather(shape, net.const(np.array([0, 1], np.int32), np.int32), 0).get_output(0)
    rows = net.n.add_reduce(dims, trt.ReduceOperation.PROD, 1, True).get_output(0)
    last = net.n.add_slice(shape, (2,), (1,), (1,)).get_output(0)
    target = net.n.add_concatenation([rows, last]).get_output(0)
    layer = net.n.add_shuffle(tx)
    layer.set_input(1, target)
    net.out(layer)
    net.out(shape, "shape")
    assert tuple(layer.get_output(0).shape) == (-1, 4)
    x = torch.randn(5, 3, 4)
    outs = net.run(x=x)
    close(outs["y"], x.reshape(15, 4))
    close(outs["shape"], torch.tensor([5, 3, 4]))
    with pytest.raises(EvaluationError, match="network input 'x'"):
        net.run(x=torch.randn(5, 2, 4))


def test_assertion():
    net = Net()
    tx = net.input("x", (-1, 4))
    shape = net.n.add_shape(tx).get_output(0)
    ok = net.n.add_elementwise(shape, net.const(np.array([2, 4], np.int64), np.int64),
                               trt.ElementWiseOperation.EQUAL).get_output(0)
    net.n.add_assertion(ok, "batch must be 2")
    net.out(net.n.add_identity(tx))
    close(net.run(x=torch.ones(2, 4))["y"], torch.ones(2, 4))
    with pytest.raises(EvaluationError, match="batch must be 2"):
        net.run(x=torch.ones(3, 4))


# ---------------------------------------------------------------- quantize and dequantize

def test_int8_quantize_rounds_half_to_even_clamps_and_dequantizes():
    net = Net()
    x = torch.tensor([[0.0625, 0.1875, -0.3125, 40.0, -40.0, 0.3, -0.01, 15.9]])
    scale = net.const(np.array(0.125, dtype=np.float32))
    q = net.n.add_quantize(net.input("x", x.shape), scale, trt.int8)
    net.out(q, name="q")
    net.out(net.n.add_dequantize(q.get_output(0), scale, trt.float32), name="y")
    got = net.run(x=x)
    # documented: clamp(round_half_even(x / scale), -128, 127); written out for these values
    expected_q = torch.tensor([[0, 2, -2, 127, -128, 2, 0, 127]], dtype=torch.int8)
    close(got["q"], expected_q, atol=0, rtol=0)
    close(got["y"], expected_q.float() * 0.125, atol=0, rtol=0)


def test_per_channel_dequantize_scales_along_axis():
    net = Net()
    q = torch.randint(-128, 128, (2, 3, 4), dtype=torch.int8)
    scales = torch.tensor([0.5, 2.0, 4.0])
    const = net.n.add_constant(q.shape, net.array(q.numpy())).get_output(0)
    dq = net.n.add_dequantize(const, net.const(scales), trt.float32)
    dq.axis = 1
    net.out(dq)
    close(net.run()["y"], q.float() * scales.reshape(1, 3, 1), atol=0, rtol=0)


def test_per_channel_quantize_with_zero_point_input():
    net = Net()
    x = torch.randn(3, 4) * 50
    scales = torch.tensor([0.25, 0.5, 1.0, 2.0])
    q = net.n.add_quantize(net.input("x", x.shape), net.const(scales), trt.int8)
    q.axis = 1
    q.set_input(2, net.const(np.zeros(4, dtype=np.int8), np.int8))
    net.out(q)
    expected = torch.fake_quantize_per_channel_affine(x, scales, torch.zeros(4, dtype=torch.int32), 1, -128, 127)
    close(net.run(x=x)["y"], (expected / scales).round().to(torch.int8), atol=0, rtol=0)


def test_fp8_quantize_saturates_and_rounds_to_e4m3():
    net = Net()
    # 1000 and -1000 saturate to +-448; 17 lies between E4M3 neighbours 16 and 18 (tie: even mantissa 16);
    # 0.3 rounds to the nearest E4M3 value, not to an integer
    x = torch.tensor([1000.0, -1000.0, 17.0, 0.3, -2.75, 300.0])
    scale = net.const(np.array(1.0, dtype=np.float32))
    q = net.n.add_quantize(net.input("x", x.shape), scale, trt.fp8)
    net.out(net.n.add_dequantize(q.get_output(0), net.const(np.array(0.5, dtype=np.float32)), trt.float32))
    y = net.run(x=x)["y"]
    close(y, torch.tensor([448.0, -448.0, 16.0, 0.3125, -2.75, 288.0]) * 0.5, atol=0, rtol=0)


def test_fp8_constant_needs_weights_fallback():
    net = Net()
    value = torch.tensor([[1.5, -0.25, 448.0]]).to(torch.float8_e4m3fn)
    raw = net.array(value.view(torch.uint8).numpy())
    const = net.n.add_constant((1, 3), trt.Weights(trt.DataType.FP8, raw.ctypes.data, raw.size))
    const.name = "fp8_const"
    net.out(net.n.add_dequantize(const.get_output(0), net.const(np.array(2.0, dtype=np.float32)), trt.float32))
    with pytest.raises(EvaluationError, match="fp8_const"):
        net.run()
    out = evaluate(net.n, {}, trt=trt, weights={"fp8_const": value})["y"]
    close(out, torch.tensor([[3.0, -0.5, 896.0]]), atol=0, rtol=0)


# ---------------------------------------------------------------- evaluation machinery

def test_topological_order_with_set_input_to_a_later_tensor():
    net = Net()
    x = torch.randn(2, 3)
    tx = net.input("x", x.shape)
    first = net.n.add_unary(tx, trt.UnaryOperation.NEG)  # layer 0; its input is rewired below
    later = net.n.add_activation(tx, trt.ActivationType.RELU)  # layer 1
    first.set_input(0, later.get_output(0))
    net.out(first)
    close(net.run(x=x)["y"], -torch.relu(x))


def test_dependency_cycle_is_reported():
    net = Net()
    tx = net.input("x", (2,))
    first = net.n.add_unary(tx, trt.UnaryOperation.NEG)
    second = net.n.add_unary(first.get_output(0), trt.UnaryOperation.ABS)
    first.set_input(0, second.get_output(0))
    net.out(second)
    with pytest.raises(EvaluationError, match="cycle"):
        evaluate(net.n, {"x": torch.zeros(2)}, trt=trt)


def test_shape_mismatch_names_layer_and_fx_node(monkeypatch):
    net = Net()
    layer = net.n.add_activation(net.input("x", (2, 3)), trt.ActivationType.RELU)
    layer.name, layer.metadata = "relu_layer", "relu_fx_node"
    net.out(layer)
    cls, _ = evaluator.HANDLERS["ACTIVATION"]
    monkeypatch.setitem(evaluator.HANDLERS, "ACTIVATION", (cls, lambda layer, xs, ev: xs[0].reshape(3, 2)))
    with pytest.raises(EvaluationError, match="relu_layer") as info:
        net.run(x=torch.randn(2, 3))
    assert "relu_fx_node" in str(info.value) and "[3, 2]" in str(info.value)
    assert isinstance(info.value, ConversionError)


def test_unsupported_layer_type_is_named():
    net = Net()
    net.out(net.n.add_lrn(net.input("x", (1, 3, 4, 4)), 3, 1.0, 0.5, 1.0))
    with pytest.raises(EvaluationError, match="LRN"):
        net.run(x=torch.randn(1, 3, 4, 4))


def test_missing_input():
    net = Net()
    net.out(net.n.add_identity(net.input("x", (2,))))
    with pytest.raises(EvaluationError, match="'x'"):
        net.run()


def test_bf16_constant_needs_weights_fallback():
    net = Net()
    value = torch.randn(2, 3).to(torch.bfloat16)
    raw = net.array(value.view(torch.int16).numpy())
    layer = net.n.add_constant((2, 3), trt.Weights(trt.DataType.BF16, raw.ctypes.data, raw.size))
    layer.name = "bf16_const"
    net.out(layer)
    with pytest.raises(EvaluationError, match="bf16_const"):
        net.run()
    out = evaluate(net.n, {}, trt=trt, weights={"bf16_const": value})["y"]
    close(out, value)


def test_default_backend():
    from trtbuild.engine.backend import get_backend

    if get_backend().flavour != "tensorrt_rtx":
        pytest.skip("the default backend is not the one these networks are built with")
    net = Net()
    net.out(net.n.add_unary(net.input("x", (3,)), trt.UnaryOperation.ABS))
    close(evaluate(net.n, {"x": torch.tensor([-1.0, 2.0, -3.0])})["y"], torch.tensor([1.0, 2.0, 3.0]))


# ---------------------------------------------------------------- loops

def _trips(net, n):
    return net.n.add_constant((), net.array(n, np.int32)).get_output(0)


def test_loop_iterates_recurs_and_outputs_scans_and_the_last_value():
    """s_i = s_{i-1} + x[:, 3 - i] * w over a reversed iterator, w loop-invariant."""
    net = Net()
    x, w = torch.randn(2, 4, 3), torch.randn(3)
    loop = net.n.add_loop()
    trips = _trips(net, 4)
    loop.add_trip_limit(trips, trt.TripLimit.COUNT)
    step = loop.add_iterator(net.input("x", x.shape), 1, True).get_output(0)
    acc = loop.add_recurrence(net.const(np.zeros((2, 3))))
    scaled = net.n.add_elementwise(step, net.const(w.reshape(1, 3)), trt.ElementWiseOperation.PROD).get_output(0)
    total = net.n.add_elementwise(acc.get_output(0), scaled, trt.ElementWiseOperation.SUM).get_output(0)
    acc.set_input(1, total)
    longer = loop.add_loop_output(total, trt.LoopOutput.CONCATENATE, 0)
    longer.set_input(1, _trips(net, 5))  # one slot more than iterations: its value is unspecified
    reverse = loop.add_loop_output(total, trt.LoopOutput.REVERSE, 2)
    reverse.set_input(1, trips)
    net.out(longer, "concat"), net.out(reverse, "reverse"), net.out(loop.add_loop_output(acc.get_output(0),
                                                                                          trt.LoopOutput.LAST_VALUE), "last")
    out = net.run(x=x)
    sums = torch.stack([(x[:, 3 - k] * w) for k in range(4)]).cumsum(0)  # [iteration, 2, 3]
    close(out["concat"][:4], sums)
    assert out["concat"].shape == (5, 2, 3)
    close(out["reverse"], sums.flip(0).permute(1, 2, 0))
    close(out["last"], sums[-1])


def test_loop_interior_in_dependency_order_and_a_layer_after_the_loop():
    """A layer whose input is set to a tensor made later (as converters do for shape inputs)."""
    net = Net()
    x = torch.randn(3, 4)
    loop = net.n.add_loop()
    loop.add_trip_limit(_trips(net, 3), trt.TripLimit.COUNT)
    row = loop.add_iterator(net.input("x", x.shape), 0, False).get_output(0)
    h = loop.add_recurrence(net.const(np.ones(4)))
    shuffle = net.n.add_shuffle(row)  # reshape to the recurrence's shape, given by a later shape layer
    shuffle.set_input(1, net.n.add_shape(h.get_output(0)).get_output(0))
    mul = net.n.add_elementwise(h.get_output(0), shuffle.get_output(0), trt.ElementWiseOperation.PROD)
    h.set_input(1, mul.get_output(0))
    last = loop.add_loop_output(h.get_output(0), trt.LoopOutput.LAST_VALUE).get_output(0)
    net.out(net.n.add_unary(last, trt.UnaryOperation.ABS))
    close(net.run(x=x)["y"], x.prod(0).abs())


def test_while_loops_are_refused_by_name():
    net = Net()
    loop = net.n.add_loop()
    flag = loop.add_recurrence(net.const(np.array(True), np.bool_))
    loop.add_trip_limit(flag.get_output(0), trt.TripLimit.WHILE)
    flag.set_input(1, net.n.add_unary(flag.get_output(0), trt.UnaryOperation.NOT).get_output(0))
    net.out(loop.add_loop_output(flag.get_output(0), trt.LoopOutput.LAST_VALUE))
    with pytest.raises(EvaluationError, match="only one COUNT trip limit"):
        net.run()
