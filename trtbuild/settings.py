"""Compiler settings: one immutable object, Torch-TensorRT names, passed down to every stage."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from .dtypes import canonical_dtype

FLOAT_PRECISIONS = ("float32", "float16", "bfloat16")


def op_name(op: Any) -> str:
    """`aten.relu.default` for an OpOverload, `aten.relu` for a packet (matches every overload)."""
    return str(op).removeprefix("torch.ops.")


class CompileSettings(BaseModel):
    """Everything that changes what the compiler emits. All of it enters the cache key."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    enabled_precisions: tuple[str, ...] = ("float32",)
    truncate_long_and_double: bool = False
    torch_executed_ops: tuple[str, ...] = ()
    min_block_size: int = Field(5, ge=1)
    require_full_compilation: bool = False
    workspace_size: int = Field(0, ge=0, lt=2**63, description="bytes; 0 = TensorRT's default")
    optimization_level: int | None = Field(None, ge=0, le=5)
    precision_exclude_ops: tuple[str, ...] = ()

    @field_validator("enabled_precisions", mode="before")
    @classmethod
    def _precisions(cls, value: Any) -> tuple[str, ...]:
        items = [value] if isinstance(value, str) or not hasattr(value, "__iter__") else list(value)
        names = tuple(sorted({canonical_dtype(v) for v in items}, key=FLOAT_PRECISIONS.index))
        for name in names:
            if name not in FLOAT_PRECISIONS:
                raise ValueError(f"precision {name!r} is not supported; use {', '.join(FLOAT_PRECISIONS)}")
        return names or ("float32",)

    @field_validator("torch_executed_ops", "precision_exclude_ops", mode="before")
    @classmethod
    def _ops(cls, value: Any) -> tuple[str, ...]:
        if isinstance(value, str) or not hasattr(value, "__iter__"):
            value = [value]
        return tuple(sorted({op_name(v) for v in value}))

    def lowest_float(self) -> str:
        """The float type the network computes in (the lowest enabled precision)."""
        return self.enabled_precisions[-1] if self.enabled_precisions else "float32"

    def describe(self) -> dict[str, Any]:
        return self.model_dump(mode="json")
