"""Conversion: FX segments of aten ops -> TensorRT network definitions.

`ops/` holds the converters grouped by op family; `registry` maps aten overloads to them;
`context` gives converters their helpers; `interpreter` walks a segment and fills a network.
"""
