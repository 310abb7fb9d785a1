"""Dtype names as they appear in recipes, and their torch equivalents.

Recipes name dtypes by string so that reading a recipe never needs torch.
"""

from __future__ import annotations

DTYPE_NAMES = (
    "float32", "float16", "bfloat16", "float64",
    "int64", "int32", "int16", "int8", "uint8", "bool",
)
ALIASES = {"float": "float32", "half": "float16", "double": "float64", "long": "int64", "int": "int32",
           "fp32": "float32", "fp16": "float16", "bf16": "bfloat16"}


def canonical_dtype(name: object) -> str:
    """Return the canonical dtype name for a string or torch.dtype; raise ValueError if unknown."""
    text = str(name).removeprefix("torch.")
    text = ALIASES.get(text, text)
    if text not in DTYPE_NAMES:
        raise ValueError(f"unknown dtype {name!r}; expected one of {', '.join(DTYPE_NAMES)}")
    return text


def to_torch(name: str):
    import torch

    return getattr(torch, canonical_dtype(name))


def is_floating(name: str) -> bool:
    return canonical_dtype(name).startswith(("float", "bfloat"))
