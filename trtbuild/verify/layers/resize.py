"""The resize layer."""

from __future__ import annotations

import math

import torch

from .base import given, handles, ints


@handles("RESIZE", "IResizeLayer")
def _resize(layer, xs, ev):
    """Separable per axis. Coordinates: ALIGN_CORNERS o*(n-1)/(m-1), ASYMMETRIC o/s, HALF_PIXEL
    (o+0.5)/s-0.5, where s is the given scale, else m/n; the UPPER selector maps a 1-pixel output to
    0. NEAREST rounds by `nearest_rounding`; LINEAR clamps coordinates to [0, n-1]; CUBIC uses
    `cubic_coeff` with edge-clamped taps (as torch bicubic). Tested against torch: NEAREST with
    ASYMMETRIC+FLOOR (`nearest`) and HALF_PIXEL+HALF_UP (`nearest-exact`), LINEAR and CUBIC with
    HALF_PIXEL / ALIGN_CORNERS. Other combinations (HALF_DOWN, CEIL, the UPPER selector,
    exclude_outside, dynamic float scales) follow the ONNX formulas (uncertain)."""
    x = xs[0]
    dynamic, scales = given(xs, 1), list(layer.scales) or None
    if dynamic is not None:
        scales = dynamic.tolist() if dynamic.is_floating_point() else None
        sizes = ints(dynamic) if scales is None else [math.floor(n * s) for n, s in zip(x.shape, scales)]
    else:
        sizes = ints(layer.shape) if scales is None else [math.floor(n * s) for n, s in zip(x.shape, scales)]
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
