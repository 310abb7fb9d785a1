"""Layer handlers of the reference evaluator, one module per layer family.

Importing this package fills `HANDLERS`. A new layer type goes into the module of its family (or a
new one listed here), written from TensorRT's documented semantics, never from a converter.
"""

from . import conv, indexing, linear, movement, pointwise, reduce, resize, sources  # noqa: F401  (registration)
from . import quantize  # noqa: F401
from .base import HANDLERS, EvaluationError, describe

__all__ = ["HANDLERS", "EvaluationError", "describe"]
