"""The Torch-TensorRT-style Python API: `trace` and `compile`."""

from __future__ import annotations

from typing import Any, Sequence

import torch
from pydantic import ValidationError

from .engine.backend import get_backend
from .errors import InputError
from .export.trace import as_inputs, trace
from .pipeline import Target, compile_program
from .settings import CompileSettings

__all__ = ["compile", "trace"]


def make_settings(settings: dict[str, Any]) -> CompileSettings:
    try:
        return CompileSettings(**settings)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"])
        raise InputError(f"setting {field}: {first['msg']}") from None


def compile(exported_program: torch.export.ExportedProgram, inputs: Sequence[Any] | None = None, *,
            backend: str = "auto", compute_capabilities: Sequence[str] = (), store: Any = None,
            **settings: Any) -> torch.fx.GraphModule:
    """Compile an ExportedProgram into a GraphModule whose TensorRT segments hold built engines.

    `inputs` (Inputs or example tensors) give the shape ranges; by default they are read from the
    program's example inputs. Settings use Torch-TensorRT names (see `CompileSettings`).
    """
    if inputs is None:
        args, kwargs = exported_program.example_inputs or ((), {})
        inputs = [*args, *kwargs.values()]
    target = Target(get_backend(backend), tuple(compute_capabilities))
    compiled = compile_program(exported_program, as_inputs(inputs), make_settings(settings), target, store=store)
    compiled.module.trtbuild_segments = compiled.segments
    return compiled.module
