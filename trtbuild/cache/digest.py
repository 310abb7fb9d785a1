"""SHA-256 digests of tensors and canonical JSON documents.

Weights are hashed in parallel threads: hashlib releases the GIL on large buffers, so a state dict
hashes at close to (cores x single-thread SHA-256) speed.
"""

from __future__ import annotations

import hashlib
import json
import os
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Iterable

PARALLEL_BYTES = 1 << 20  # below this, a thread hop costs more than it saves


def canonical_json(doc: Any) -> str:
    return json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=True)


def digest_doc(doc: Any) -> str:
    return hashlib.sha256(canonical_json(doc).encode()).hexdigest()


def digest_bytes(data: bytes | memoryview) -> str:
    return hashlib.sha256(data).hexdigest()


def _tensor_bytes(tensor: Any) -> memoryview:
    import torch

    t = tensor.detach().cpu().contiguous()
    if t.numel() == 0:
        return memoryview(b"")
    return memoryview(t.reshape(-1).view(torch.uint8).numpy())


def digest_tensor(tensor: Any) -> str:
    """SHA-256 over dtype, shape and raw bytes, so equal bytes of another dtype or shape differ."""
    h = hashlib.sha256(f"{str(tensor.dtype)}{tuple(tensor.shape)}".encode())
    h.update(_tensor_bytes(tensor))
    return h.hexdigest()


def digest_tensors(named: Iterable[tuple[str, Any]]) -> dict[str, str]:
    items = list(named)
    small = {n: digest_tensor(t) for n, t in items if t.numel() * t.element_size() < PARALLEL_BYTES}
    large = [(n, t) for n, t in items if n not in small]
    with ThreadPoolExecutor(max_workers=max(1, os.cpu_count() or 1)) as pool:
        large_digests = dict(zip([n for n, _ in large], pool.map(digest_tensor, [t for _, t in large])))
    return {n: small.get(n) or large_digests[n] for n, _ in items}
