"""trtbuild: a declarative build system for TensorRT engines from PyTorch models.

The Torch-TensorRT dynamo API is offered under the same names:
    trtbuild.Input, trtbuild.trace(model, inputs), trtbuild.compile(exported_program, inputs, **settings)
plus trtbuild.load(build_dir) and trtbuild.set_reference(module) for CPU reference execution.

Importing trtbuild does not import torch; the API is loaded on first use (the no-op `make` relies
on this to answer in well under a second).
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

_LAZY = {
    "Input": ("trtbuild.inputs", "Input"),
    "CompileSettings": ("trtbuild.settings", "CompileSettings"),
    "trace": ("trtbuild.api", "trace"),
    "compile": ("trtbuild.api", "compile"),
    "load": ("trtbuild.assembly.artifacts", "load"),
    "set_reference": ("trtbuild.assembly.runtime", "set_reference"),
}

__all__ = ["__version__", *_LAZY]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        module, attr = _LAZY[name]
        value = getattr(importlib.import_module(module), attr)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'trtbuild' has no attribute {name!r}")
