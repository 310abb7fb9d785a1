"""The decomposition table: torch.export's defaults, minus every op we convert whole.

Keeping an op whole (layer_norm, gelu, linear, scaled_dot_product_attention, ...) lets TensorRT
use its fused layer instead of rebuilding it from elementwise pieces.
"""

from __future__ import annotations

import torch

from ..conversion.registry import all_converters
from .inplace import needs_decomposition


def decomposition_table() -> dict:
    table = torch.export.default_decompositions()
    for op in all_converters():
        if isinstance(op, torch._ops.OpOverload):  # python operators (size arithmetic) are not in the table
            table.pop(op, None)
    return table


def decompose(program: torch.export.ExportedProgram) -> torch.export.ExportedProgram:
    if not needs_decomposition(program):
        return program  # functionalize_inplace rewrites the in-place ops after unlifting
    return program.run_decompositions(decomposition_table())
