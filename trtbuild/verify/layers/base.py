"""What every layer handler shares: the handler table, the error type and small input helpers.

A handler is `fn(layer, xs, ev) -> tensor | tuple of tensors`: `layer` already downcast to its
interface class, `xs` the input values (half types upcast to float32; None for an unset optional
input), `ev` the evaluation (weights, the RNG). The evaluator casts and shape-checks what it returns.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

from ...errors import ConversionError

# layer type name -> (interface class name in the tensorrt module, handler)
HANDLERS: dict[str, tuple[str, Callable]] = {}


class EvaluationError(ConversionError):
    """The network cannot be evaluated: an unsupported layer, a shape mismatch or a failed assertion."""


def handles(kind: str, interface: str) -> Callable[[Callable], Callable]:
    """Register the decorated function for layers of type `kind` (a trt.LayerType name)."""
    def register(fn: Callable) -> Callable:
        HANDLERS[kind] = (interface, fn)
        return fn
    return register


def describe(layer) -> str:
    """How error messages name a layer: its name and the FX node from `layer.metadata`."""
    node = layer.metadata
    return f"layer {layer.name!r}" + (f" (FX node {node!r})" if node else " (no FX node in metadata)")


def mask_axes(mask: int, rank: int) -> tuple[int, ...]:
    return tuple(d for d in range(rank) if mask >> d & 1)


def given(xs: list, i: int) -> torch.Tensor | None:
    """Optional input i (an attribute replaced by a dynamic input), or None."""
    return xs[i] if len(xs) > i else None


def ints(value) -> list[int] | None:
    return None if value is None else [int(v) for v in (value.tolist() if isinstance(value, torch.Tensor) else value)]


def int_input(xs: list, i: int, static) -> list[int] | None:
    """Integer list from input i when it is given, else from the static attribute (None if unset)."""
    return ints(given(xs, i) if given(xs, i) is not None else static)


def pad_trailing(x: torch.Tensor, pads: list[tuple[int, int]], value: float = 0.0) -> torch.Tensor:
    """Pad (or crop, if negative) the trailing len(pads) dims by (before, after) each."""
    flat = [p for pair in reversed(pads) for p in pair]
    return F.pad(x, flat, value=value) if any(flat) else x
