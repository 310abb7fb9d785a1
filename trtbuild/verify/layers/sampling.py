"""The grid-sample layer."""

from __future__ import annotations

import torch

from .base import EvaluationError, describe, handles


@handles("GRID_SAMPLE", "IGridSampleLayer")
def _grid_sample(layer, xs, ev):
    """input [N, C, H, W], grid [N, Ho, Wo, 2] of (x, y) in [-1, 1] -> [N, C, Ho, Wo].

    A grid value g maps to the pixel coordinate (g + 1) / 2 * (n - 1) with align_corners, else
    ((g + 1) * n - 1) / 2. NEAREST rounds half to even (uncertain), LINEAR weights the 2x2 pixels
    around the coordinate, CUBIC the 4x4 with the cubic convolution kernel (a = -0.75, uncertain).
    Each pixel read outside the input follows the sample mode: FILL reads 0, CLAMP the nearest border
    pixel, REFLECT mirrors the index at the borders (at pixel centers with align_corners, else at the
    pixel edges) until it is inside."""
    x, grid = xs[0].double(), xs[1].double()
    if x.dim() != 4:
        raise EvaluationError(f"{describe(layer)}: only 4-D grid sampling is evaluated, got rank {x.dim()}")
    align, mode = bool(layer.align_corners), layer.sample_mode.name
    h, w = x.shape[2], x.shape[3]

    def coordinate(g, n):
        return (g + 1) / 2 * (n - 1) if align else ((g + 1) * n - 1) / 2

    def pixels(iy, ix):
        """x at integer coordinates [N, Ho, Wo] (each padded by the sample mode) -> [N, C, Ho, Wo]."""
        inside = (iy >= 0) & (iy < h) & (ix >= 0) & (ix < w)
        if mode == "REFLECT":
            iy, ix = _reflect(iy, h, align), _reflect(ix, w, align)
        iy, ix = iy.clamp(0, h - 1), ix.clamp(0, w - 1)
        batch = torch.arange(x.shape[0]).reshape(-1, 1, 1)
        values = x[batch, :, iy, ix].permute(0, 3, 1, 2)
        return values * inside.unsqueeze(1) if mode == "FILL" else values

    px, py = coordinate(grid[..., 0], w), coordinate(grid[..., 1], h)
    kind = layer.interpolation_mode.name
    if kind == "NEAREST":
        return pixels(torch.round(py).long(), torch.round(px).long())
    x0, y0 = px.floor(), py.floor()
    if kind == "LINEAR":
        taps, weights = (0, 1), lambda t: (1 - t, t)
    else:  # CUBIC
        taps, weights = (-1, 0, 1, 2), _cubic_weights
    wx, wy = weights(px - x0), weights(py - y0)
    out = 0
    for j, dy in enumerate(taps):
        for i, dx in enumerate(taps):
            value = pixels((y0 + dy).long(), (x0 + dx).long())
            out = out + value * (wy[j] * wx[i]).unsqueeze(1)
    return out


def _reflect(index: torch.Tensor, n: int, align: bool) -> torch.Tensor:
    if align:  # mirror at pixel centers 0 and n-1
        period = max(2 * (n - 1), 1)
        index = index.remainder(period)
        return torch.where(index > n - 1, period - index, index)
    index = index.remainder(2 * n)  # mirror at pixel edges -0.5 and n-0.5
    return torch.where(index >= n, 2 * n - 1 - index, index)


def _cubic_weights(t: torch.Tensor, a: float = -0.75):
    """Weights of the taps at distances 1 + t, t, 1 - t, 2 - t from the coordinate."""
    def near(d):
        return ((a + 2) * d - (a + 3)) * d * d + 1

    def far(d):
        return ((d - 5) * d + 8) * d * a - 4 * a

    return far(1 + t), near(t), near(1 - t), far(2 - t)
