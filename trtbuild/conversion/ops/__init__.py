"""Converters, one module per op family. Importing this package registers all of them."""

from . import activation, conv, elementwise, linear, normalization, pooling, reduce, shape, symbolic, unary  # noqa: F401
from . import attention, creation, cumulative, indexing, logical, pad, distance, recurrent, resize, sampling  # noqa: F401
from . import softmax, sorting, split  # noqa: F401
from . import grid_sample, rearrange, scatter  # noqa: F401  (data movement: issue 13)
from . import quantize  # noqa: F401  (Q/DQ layers)
