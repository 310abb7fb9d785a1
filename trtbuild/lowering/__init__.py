"""Lowering: ExportedProgram -> a flat GraphModule of the aten ops our converters take.

`lower` runs the passes below in order; each is `(gm, settings) -> gm` and named verb_noun.
"""

from __future__ import annotations

from typing import Callable

import torch
import torch.fx

from ..settings import CompileSettings
from .decompose import decompose
from .fold import fold_constants
from .inplace import functionalize_inplace
from .passes import (
    record_output_dtypes,
    remove_noops,
    split_shared_constants,
    split_shared_sizes,
)
from .precision import apply_precision
from .quantize import normalize_qdq
from .truncate import truncate_wide_types
from .unlift import returned_inputs, unlift

Pass = Callable[[torch.fx.GraphModule, CompileSettings], torch.fx.GraphModule]

PASSES: tuple[Pass, ...] = (
    record_output_dtypes,
    functionalize_inplace,
    remove_noops,
    normalize_qdq,
    fold_constants,
    split_shared_constants,
    split_shared_sizes,
    truncate_wide_types,
    apply_precision,
)


def lower(program: torch.export.ExportedProgram, settings: CompileSettings) -> torch.fx.GraphModule:
    gm = unlift(decompose(program), returned_inputs(program))
    for lowering_pass in PASSES:
        gm = lowering_pass(gm, settings)
    gm.graph.lint()
    gm.recompile()
    return gm
