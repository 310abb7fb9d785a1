"""Compare a compiled module (TensorRT segments in reference execution) with eager PyTorch.

Error measures, per output:
  max_abs = max |actual - expected|
  max_rel = max_abs / max |expected|   (relative to the output's scale; elementwise ratios blow up
                                        wherever a random-weight output happens to be near zero)
An output passes when max_abs <= atol + rtol * max |expected|, i.e. max_rel <= rtol (+ atol slack).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any, Sequence

import torch
from torch.utils._pytree import tree_flatten

from ..assembly.runtime import set_reference

# Default tolerances by the lowest float type the network computes in, or its quantized format (checked
# against the fake-quantized model: float rounding can move a value across a rounding boundary).
TOLERANCES = {"float32": (1e-4, 1e-5), "float16": (1e-2, 1e-3), "bfloat16": (3e-2, 1e-2),
              "int8": (1e-2, 1e-5), "fp8": (1e-2, 1e-5)}


@dataclass
class OutputCheck:
    name: str
    max_abs: float
    max_rel: float
    ok: bool
    vs_float: dict[str, float] | None = None  # a quantized model's error against the float model (not checked)

    def report(self) -> dict[str, Any]:
        extra = {"vs_float": self.vs_float} if self.vs_float is not None else {}
        return {"name": self.name, "max_abs": self.max_abs, "max_rel": self.max_rel, "ok": self.ok, **extra}


@dataclass
class ShapeCheck:
    shape: str  # "opt" | "min" | "max" | "random-N" | "sample-N"
    input_shapes: list[list[int]]
    outputs: list[OutputCheck] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(o.ok for o in self.outputs)

    def report(self) -> dict[str, Any]:
        return {"shape": self.shape, "input_shapes": self.input_shapes, "ok": self.ok,
                "outputs": [o.report() for o in self.outputs]}


def tolerances(precision: str, rtol: float | None = None, atol: float | None = None) -> tuple[float, float]:
    default_rtol, default_atol = TOLERANCES[precision]
    return (default_rtol if rtol is None else rtol), (default_atol if atol is None else atol)


def compare(name: str, expected: torch.Tensor, actual: torch.Tensor, rtol: float, atol: float) -> OutputCheck:
    if tuple(expected.shape) != tuple(actual.shape):
        return OutputCheck(name, float("inf"), float("inf"), False)
    if not expected.is_floating_point():
        mismatches = float((expected != actual.to(expected.dtype)).sum())
        return OutputCheck(name, mismatches, mismatches, mismatches == 0)
    e, a = expected.double(), actual.double()
    special = ~torch.isfinite(e)
    # Eager's inf and NaN must be reproduced exactly; finite values within tolerance.
    special_ok = bool((torch.isnan(e[special]) == torch.isnan(a[special])).all()) and torch.equal(
        e[special].nan_to_num(), a[special].nan_to_num())
    diff = torch.nan_to_num((a - e)[~special].abs(), nan=float("inf"))
    max_abs = float(diff.max()) if diff.numel() else 0.0
    scale = float(e[~special].abs().max()) if diff.numel() else 0.0
    max_rel = max_abs / scale if scale > 0 else max_abs
    return OutputCheck(name, max_abs, max_rel, special_ok and max_abs <= atol + rtol * scale)


def float_error(expected: torch.Tensor, actual: torch.Tensor) -> dict[str, float]:
    """What quantization costs: max_abs, max_rel (as `compare`) and the cosine similarity of the outputs."""
    e, a = expected.double().flatten(), actual.double().flatten()
    check = compare("", expected, actual, 0.0, 0.0)
    cosine = float(torch.nn.functional.cosine_similarity(e, a, dim=0)) if e.numel() else 1.0
    return {"max_abs": check.max_abs, "max_rel": check.max_rel, "cosine": cosine}


def check_points(inputs: Sequence[Any], samples: int, seed: int) -> list[tuple[str, list[tuple[int, ...]]]]:
    """Shapes to check: opt (plus more samples) when static; min, opt, max and random points when dynamic."""
    if not any(i.is_dynamic for i in inputs):
        return [("opt" if k == 0 else f"sample-{k}", [i.opt_shape for i in inputs]) for k in range(samples)]
    points = [(w, [i.shape_at(w) for i in inputs]) for w in ("min", "opt", "max")]
    rng = random.Random(seed)
    for k in range(samples):
        chosen: dict[str, int] = {}
        shapes = []
        for i in inputs:
            shape = []
            for d, (lo, hi) in enumerate(zip(i.min_shape, i.max_shape)):
                name = i.dim_names.get(d) or f"{i.name}:{d}"
                shape.append(chosen.setdefault(name, rng.randint(lo, hi)))
            shapes.append(tuple(shape))
        points.append((f"random-{k + 1}", shapes))
    return points


def verify_module(eager: torch.nn.Module, compiled: torch.nn.Module, inputs: Sequence[Any], *, rtol: float,
                  atol: float, samples: int = 2, seed: int = 0, by_name: bool = False,
                  float_model: torch.nn.Module | None = None) -> list[ShapeCheck]:
    """Run eager and reference execution on seeded random inputs at each check point. With
    `float_model` (eager is then the fake-quantized model), each output also reports `vs_float`."""
    set_reference(compiled, True)
    generator = torch.Generator().manual_seed(seed)
    checks = []
    try:
        for label, shapes in check_points(inputs, samples, seed):
            data = [spec.random(shape, generator) for spec, shape in zip(inputs, shapes)]
            with torch.no_grad():
                expected = _call(eager, inputs, data, by_name)
                actual = _call(compiled, inputs, data, by_name)
                floats = _call(float_model, inputs, data, by_name) if float_model is not None else None
            flat_e, _ = tree_flatten(expected)
            flat_a, _ = tree_flatten(actual)
            flat_f = tree_flatten(floats)[0] if floats is not None else [None] * len(flat_a)
            check = ShapeCheck(label, [list(s) for s in shapes])
            for k, (e, a, f) in enumerate(zip(flat_e, flat_a, flat_f)):
                check.outputs.append(compare(f"output_{k}", e, a, rtol, atol))
                if f is not None:
                    check.outputs[-1].vs_float = float_error(f, a)
            if len(flat_e) != len(flat_a):
                check.outputs.append(OutputCheck("output_count", float("inf"), float("inf"), False))
            checks.append(check)
    finally:
        set_reference(compiled, False)
    return checks


def _call(module: torch.nn.Module, inputs: Sequence[Any], data: list[torch.Tensor], by_name: bool) -> Any:
    data = [t.clone() for t in data]  # a model may mutate its inputs: each run gets the same values
    if by_name:
        return module(**{spec.name: t for spec, t in zip(inputs, data)})
    return module(*data)
