"""`Input`: one model input, static or with a [min, opt, max] shape range (Torch-TensorRT names)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

from .dtypes import canonical_dtype, is_floating
from .errors import InputError


def _shape(value: Sequence[int] | None, what: str) -> tuple[int, ...] | None:
    if value is None:
        return None
    try:
        dims = tuple(int(d) for d in value)
    except (TypeError, ValueError):
        raise InputError(f"{what} must be a list of integers, got {value!r}") from None
    return dims


@dataclass(frozen=True)
class Input:
    """A model input. Give `shape` for a static input, or `min_shape`/`opt_shape`/`max_shape`.

    `dim_names` names dynamic dimensions (index -> name); inputs sharing a name share a size.
    `value_range` bounds random integer data drawn for verification (inclusive low, exclusive high).
    """

    shape: tuple[int, ...] | None = None
    min_shape: tuple[int, ...] | None = None
    opt_shape: tuple[int, ...] | None = None
    max_shape: tuple[int, ...] | None = None
    dtype: Any = "float32"
    name: str | None = None
    dim_names: dict[int, str] = field(default_factory=dict)
    value_range: tuple[float, float] | None = None

    def __post_init__(self) -> None:
        label = f"input {self.name!r}" if self.name else "input"
        set_ = object.__setattr__
        try:
            set_(self, "dtype", canonical_dtype(self.dtype))
        except ValueError as exc:
            raise InputError(f"{label}: {exc}") from None
        shape = _shape(self.shape, f"{label} shape")
        ranges = [_shape(getattr(self, k), f"{label} {k}") for k in ("min_shape", "opt_shape", "max_shape")]
        if shape is not None and any(r is not None for r in ranges):
            raise InputError(f"{label}: give either shape or min_shape/opt_shape/max_shape, not both")
        if shape is not None:
            ranges = [shape, shape, shape]
        if any(r is None for r in ranges):
            raise InputError(f"{label}: needs shape, or all of min_shape, opt_shape and max_shape")
        lo, opt, hi = ranges
        if not (len(lo) == len(opt) == len(hi)):
            raise InputError(f"{label}: min_shape, opt_shape and max_shape have different ranks "
                             f"({len(lo)}, {len(opt)}, {len(hi)})")
        for i, (a, b, c) in enumerate(zip(lo, opt, hi)):
            if min(a, b, c) < 0 or (min(a, b, c) == 0 and a != c):  # a static empty dim is legal in torch
                raise InputError(f"{label} dim {i}: sizes must be positive (or 0 when static), "
                                 f"got min={a} opt={b} max={c}")
            if a > c:
                raise InputError(f"{label} dim {i}: min {a} > max {c}")
            if not a <= b <= c:
                raise InputError(f"{label} dim {i}: opt {b} outside [min {a}, max {c}]")
        set_(self, "shape", opt if lo == hi else None)
        set_(self, "min_shape", lo)
        set_(self, "opt_shape", opt)
        set_(self, "max_shape", hi)
        set_(self, "dim_names", {int(k): str(v) for k, v in dict(self.dim_names).items()})

    @classmethod
    def from_tensor(cls, tensor: Any, name: str | None = None) -> "Input":
        return cls(shape=tuple(tensor.shape), dtype=tensor.dtype, name=name)

    @property
    def is_dynamic(self) -> bool:
        return self.min_shape != self.max_shape

    def dynamic_dims(self) -> list[int]:
        return [i for i, (a, c) in enumerate(zip(self.min_shape, self.max_shape)) if a != c]

    def shape_at(self, which: str) -> tuple[int, ...]:
        return {"min": self.min_shape, "opt": self.opt_shape, "max": self.max_shape}[which]

    def describe(self) -> dict[str, Any]:
        """A canonical, JSON-ready description (part of the cache key)."""
        return {
            "name": self.name,
            "dtype": self.dtype,
            "min": list(self.min_shape),
            "opt": list(self.opt_shape),
            "max": list(self.max_shape),
            "dim_names": {str(k): v for k, v in sorted(self.dim_names.items())},
        }

    def random(self, shape: Sequence[int], generator: Any = None):
        """Random data of this input's dtype for verification; integers honour `value_range`."""
        import torch

        from .dtypes import to_torch

        dtype = to_torch(self.dtype)
        if is_floating(self.dtype):
            return torch.randn(tuple(shape), generator=generator).to(dtype)
        if self.dtype == "bool":
            return torch.randint(0, 2, tuple(shape), generator=generator).bool()
        lo, hi = self.value_range or (0, 10)
        return torch.randint(int(lo), int(hi), tuple(shape), generator=generator, dtype=dtype)
