"""Max and average pooling (2-D and 3-D, batched or not), adaptive average pooling.

Torch's ceil_mode drops a last window that would start in the right padding; TensorRT's
EXPLICIT_ROUND_UP does not. For max pooling we therefore compute torch's output size ourselves and
express it as explicit post-padding (padded values are -inf, so extra padding cannot win a max).
TensorRT's Pooling layer wants a batch and a channel dim: an unbatched input gets a leading unit dim.

Adaptive average pooling gives output i of an axis the mean of input [floor(i n/m), ceil((i+1) n/m)).
When every axis divides evenly that is one Pooling layer; otherwise each axis is a product with a
constant (n, m) averaging matrix, which also covers windows that overlap (m > n).
"""

from __future__ import annotations

import math

import numpy as np
import torch

from ..registry import converter
from .checks import only_first_output_used

aten = torch.ops.aten


def torch_pool_size(size: int, kernel: int, stride: int, pad: int, ceil_mode: bool) -> int:
    """Output length of a torch pooling window (the rule in ATen's pooling_output_shape)."""
    span = size + 2 * pad - kernel
    out = (math.ceil(span / stride) if ceil_mode else span // stride) + 1
    if ceil_mode and (out - 1) * stride >= size + pad:
        out -= 1
    return out


def _spatial_rank(node) -> int:
    return 3 if "3d" in str(node.target) else 2


def _per_dim(value, n, default=None):
    value = list(value) if value else list(default or [])
    return value * n if len(value) == 1 else value


def _pool_args(node, kernel_size, stride, padding):
    n = _spatial_rank(node)
    kernel = _per_dim(kernel_size, n)
    return kernel, _per_dim(stride, n, kernel), _per_dim(padding, n, [0])


def _pool_input(node) -> str | None:
    """(N, C, *spatial) or (C, *spatial); ceil_mode needs static spatial sizes (torch's rule per size)."""
    from ..interpreter import node_args

    n, val = _spatial_rank(node), node.args[0].meta.get("val")
    if val is None or val.dim() not in (n + 1, n + 2):
        return f"{n}-D pooling takes a ({n + 2}-D or unbatched {n + 1}-D) input"
    if node_args(node).get("ceil_mode") and not all(isinstance(d, int) for d in val.shape[-n:]):
        return "ceil_mode with dynamic spatial sizes: torch's rule for the last window needs the size at build time"
    return None


def _no_dilation(node) -> str | None:
    from ..interpreter import node_args

    dilation = node_args(node).get("dilation") or [1]
    return None if all(d == 1 for d in dilation) else "dilated pooling is not supported by TensorRT"


def _no_indices(node) -> str | None:
    return only_first_output_used(node) if "with_indices" in str(node.target) else None


@converter(aten.max_pool2d.default, aten.max_pool2d_with_indices.default, aten.max_pool3d.default,
           aten.max_pool3d_with_indices.default, checks=(_pool_input, _no_dilation, _no_indices))
def max_pool(ctx, node, input, kernel_size, stride=(), padding=(0,), dilation=(1,), ceil_mode=False):
    kernel, stride, padding = _pool_args(node, kernel_size, stride, padding)

    def pool(x):
        layer = ctx.network.add_pooling_nd(x, ctx.trt.PoolingType.MAX, tuple(kernel))
        layer.stride_nd = tuple(stride)
        layer.pre_padding = tuple(padding)
        if ceil_mode:
            sizes = ctx.shape(x)[-len(kernel):]
            # any post padding in [needed, needed + s) gives torch's size; TensorRT wants it >= 0
            layer.post_padding = tuple(max(0, (torch_pool_size(n, k, s, p, True) - 1) * s + k - n - p)
                                       for n, k, s, p in zip(sizes, kernel, stride, padding))
        else:  # TensorRT rounds down like torch: symmetric padding, works for dynamic sizes
            layer.post_padding = tuple(padding)
        return ctx.out(layer)

    out = _unbatched(ctx, input, len(kernel), pool)
    return (out, None) if "with_indices" in str(node.target) else out


def _avg_supported(node) -> str | None:
    from ..interpreter import node_args

    args = node_args(node)
    if args.get("ceil_mode"):
        kernel, stride, padding = _pool_args(node, args["kernel_size"], args["stride"], args["padding"])
        shape = node.args[0].meta["val"].shape[-len(kernel):]
        for size, k, s, p in zip(shape, kernel, stride, padding):
            if torch_pool_size(size, k, s, p, True) != torch_pool_size(size, k, s, p, False):
                return ("ceil_mode with a partial last window: torch divides it by a count TensorRT's "
                        "average pooling does not document")
    return None


@converter(aten.avg_pool2d.default, aten.avg_pool3d.default, checks=(_pool_input, _avg_supported))
def avg_pool(ctx, node, input, kernel_size, stride=(), padding=(0,), ceil_mode=False, count_include_pad=True,
             divisor_override=None):
    kernel, stride, padding = _pool_args(node, kernel_size, stride, padding)

    def pool(x):
        layer = ctx.network.add_pooling_nd(x, ctx.trt.PoolingType.AVERAGE, tuple(kernel))
        layer.stride_nd = tuple(stride)
        layer.padding_nd = tuple(padding)
        layer.average_count_excludes_padding = not count_include_pad and divisor_override is None
        return ctx.out(layer)

    out = _unbatched(ctx, input, len(kernel), pool)
    if divisor_override is not None:  # the window's sum (padding counted as zeros) over the divisor
        out = ctx.elementwise(out, math.prod(kernel) / divisor_override, ctx.trt.ElementWiseOperation.PROD)
    return out


def _unbatched(ctx, x, n, pool):
    """pool(x) for a batched x; an unbatched one goes through with a leading unit dim."""
    if ctx.rank(x) == n + 2:
        return pool(x)
    leading = ctx.constant(np.array([0], dtype=np.int64))
    y = pool(ctx.out(ctx.network.add_unsqueeze(x, leading)))
    return ctx.out(ctx.network.add_squeeze(y, leading))


def _adaptive_input(node) -> str | None:
    n, val = _spatial_rank(node), node.args[0].meta.get("val")
    if val is None or val.dim() not in (n + 1, n + 2):
        return f"{n}-D adaptive pooling takes a ({n + 2}-D or unbatched {n + 1}-D) input"
    if not val.dtype.is_floating_point:
        return "adaptive average pooling needs a float input"
    if all(o == 1 for o in node.args[1]):
        return None
    if any(not isinstance(d, int) for d in val.shape[-n:]):
        return "adaptive pooling to a size other than 1 needs static spatial sizes (its windows are built in)"
    return None


@converter(aten.adaptive_avg_pool2d.default, aten._adaptive_avg_pool2d.default, aten.adaptive_avg_pool3d.default,
           aten._adaptive_avg_pool3d.default, checks=_adaptive_input)
def adaptive_avg_pool(ctx, node, input, output_size):
    n, rank = len(output_size), ctx.rank(input)
    axes = list(range(rank - n, rank))
    if all(o == 1 for o in output_size):  # global: a mean over the spatial dims
        mask = sum(1 << a for a in axes)
        return ctx.out(ctx.network.add_reduce(input, ctx.trt.ReduceOperation.AVG, mask, True))
    sizes = ctx.shape(input)[-n:]
    if all(s % o == 0 for s, o in zip(sizes, output_size)):
        kernel = tuple(s // o for s, o in zip(sizes, output_size))

        def pool(x):
            layer = ctx.network.add_pooling_nd(x, ctx.trt.PoolingType.AVERAGE, kernel)
            layer.stride_nd = kernel
            return ctx.out(layer)

        return _unbatched(ctx, input, n, pool)
    x = input
    for axis, size, out in zip(axes, sizes, output_size):
        if size != out:
            x = _average_axis(ctx, x, axis, size, out)
    return x


def averaging_matrix(size: int, out: int) -> np.ndarray:
    """(size, out): column i averages input [floor(i size/out), ceil((i+1) size/out))."""
    matrix = np.zeros((size, out), dtype=np.float64)
    for i in range(out):
        start, end = (i * size) // out, -(-(i + 1) * size // out)
        matrix[start:end, i] = 1.0 / (end - start)
    return matrix


def _average_axis(ctx, x, axis, size, out):
    """x with `axis` (of `size`) replaced by `out` adaptive averages: x moved so that axis is last,
    times the averaging matrix, moved back."""
    rank = ctx.rank(x)
    weights = torch.from_numpy(averaging_matrix(size, out)).to(ctx.dtype_of(x))
    order = [d for d in range(rank) if d != axis] + [axis]
    moved = _permute(ctx, x, order)
    product = ctx.out(ctx.network.add_matrix_multiply(
        moved, ctx.trt.MatrixOperation.NONE, ctx.unsqueeze_to(ctx.constant(weights), rank),
        ctx.trt.MatrixOperation.NONE))
    return _permute(ctx, product, [order.index(d) for d in range(rank)])


def _permute(ctx, x, order):
    if order == list(range(len(order))):
        return x
    layer = ctx.network.add_shuffle(x)
    layer.first_transpose = tuple(order)
    return ctx.out(layer)
