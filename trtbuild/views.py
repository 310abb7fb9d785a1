"""Telling tensors apart by the memory they view, not by object identity."""

from __future__ import annotations

import torch


def view_key(tensor: torch.Tensor) -> tuple:
    """Tensors with one key hold the same values: the same bytes seen the same way (a weight's
    `.t()` made again at every step of an unrolled RNN, or a weight tied to another name)."""
    return (tensor.untyped_storage().data_ptr(), tensor.storage_offset(), tuple(tensor.shape), tensor.stride(),
            tensor.dtype)
