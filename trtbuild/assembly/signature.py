"""Give an assembled GraphModule the calling convention of the model it came from.

The compiled graph takes and returns flat tensors; the eager model may take keywords and return a
tensor, a tuple or a dict. torch.export records both structures as pytree specs, which have a JSON
form, so built artifacts keep them without pickling.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.fx
from torch.utils._pytree import treespec_dumps, treespec_loads


def program_signature(program: torch.export.ExportedProgram, arg_names: list[str]) -> dict[str, Any] | None:
    """JSON-ready calling convention, or None when a spec holds a type without a JSON form."""
    try:
        return {"orig_args": list(arg_names), "in_spec": treespec_dumps(program.call_spec.in_spec),
                "out_spec": treespec_dumps(program.call_spec.out_spec)}
    except Exception:  # custom pytree nodes (e.g. model-output dataclasses) may not serialize
        return None


def apply_signature(gm: torch.fx.GraphModule, signature: dict[str, Any] | None) -> torch.fx.GraphModule:
    """Make `gm(*args, **kwargs)` accept and return what the eager model does."""
    if signature is None:
        return gm
    from torch.fx.graph import _PyTreeCodeGen, _PyTreeInfo

    info = _PyTreeInfo(signature["orig_args"], treespec_loads(signature["in_spec"]),
                       treespec_loads(signature["out_spec"]))
    gm.graph._codegen = _PyTreeCodeGen(info)
    gm.recompile()
    return gm
