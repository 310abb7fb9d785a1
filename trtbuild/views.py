"""Telling tensors apart by the memory they view, not by object identity."""

from __future__ import annotations

import torch


def view_key(tensor: torch.Tensor) -> tuple:
    """Tensors with one key hold the same values: the same bytes seen the same way (a weight's
    `.t()` made again at every step of an unrolled RNN, or a weight tied to another name)."""
    return (tensor.untyped_storage().data_ptr(), tensor.storage_offset(), tuple(tensor.shape), tensor.stride(),
            tensor.dtype)


PERMUTE_IN_TENSORRT_FROM = 1 << 20  # bytes; below this a transposed copy costs nothing worth a layer


def permuted_storage(tensor: torch.Tensor) -> tuple[torch.Tensor, tuple[int, ...]] | None:
    """`(storage, perm)` with `storage` contiguous and `storage.permute(perm)` equal to `tensor`, when
    `tensor` is a large floating-point transpose of dense memory (a linear layer's `weight.t()`).

    Handing TensorRT `storage` and the permutation instead of a contiguous copy keeps one copy of the
    weight alive while the engine builds, not two. Integer and fp8 tensors (indices, quantized
    weights) are copied as before: a quantized weight feeds a dequantize layer that TensorRT fuses
    with the layer after it, and that fusion was not checked with a shuffle in between."""
    if (tensor.is_contiguous() or not tensor.is_floating_point() or tensor.dtype.itemsize < 2
            or tensor.nbytes < PERMUTE_IN_TENSORRT_FROM):
        return None
    order = sorted(range(tensor.dim()), key=lambda d: -tensor.stride(d))  # stable: ties keep their order
    storage = tensor.permute(order)
    if not storage.is_contiguous():
        return None
    perm = [0] * len(order)
    for position, dim in enumerate(order):
        perm[dim] = position
    return storage, tuple(perm)
