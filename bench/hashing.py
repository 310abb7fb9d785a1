"""Weight-hashing throughput: trtbuild.cache.digest.digest_tensors vs single-threaded hashlib.sha256.

`python -m bench.hashing [--gib 1] [--repeat 3] [--json]` builds a state dict in memory
(float32 tensors of 64 MiB each, 1 GiB by default) and hashes it both ways, median of the repeats.
Both sides hash the same bytes per tensor; digest_tensors also hashes dtype and shape (a few bytes).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import statistics
import time
from typing import Any

TENSOR_MIB = 64


def state_dict(gib: float) -> dict[str, Any]:
    import torch

    count = max(1, round(gib * 1024 / TENSOR_MIB))
    elements = TENSOR_MIB * (1 << 20) // 4
    generator = torch.Generator().manual_seed(0)
    return {f"layer{i}.weight": torch.rand(elements, generator=generator, dtype=torch.float32) for i in range(count)}


def plain_sha256(tensors: dict[str, Any]) -> dict[str, str]:
    """The baseline: one hashlib.sha256 per tensor over its raw bytes, one thread."""
    return {name: hashlib.sha256(memoryview(t.numpy()).cast("B")).hexdigest() for name, t in tensors.items()}


def measure(gib: float = 1.0, repeat: int = 3) -> dict[str, Any]:
    from trtbuild.cache.digest import digest_tensors

    tensors = state_dict(gib)
    nbytes = sum(t.numel() * t.element_size() for t in tensors.values())
    digest_tensors(list(tensors.items())[:1])  # warm the thread pool path's imports
    ours, plain, ours_cpu, plain_cpu = [], [], [], []
    for _ in range(repeat):  # interleaved, so machine load hits both alike
        start, cpu = time.perf_counter(), time.process_time()
        digest_tensors(tensors.items())
        ours.append(time.perf_counter() - start)
        ours_cpu.append(time.process_time() - cpu)
        start, cpu = time.perf_counter(), time.process_time()
        plain_sha256(tensors)
        plain.append(time.perf_counter() - start)
        plain_cpu.append(time.process_time() - cpu)
    t_ours, t_plain = statistics.median(ours), statistics.median(plain)
    c_ours, c_plain = statistics.median(ours_cpu), statistics.median(plain_cpu)
    return {
        "bytes": nbytes,
        "tensors": len(tensors),
        "tensor_mib": TENSOR_MIB,
        "threads": os.cpu_count(),
        "repeat": repeat,
        "digest_tensors_seconds": [round(x, 4) for x in ours],
        "sha256_seconds": [round(x, 4) for x in plain],
        "digest_tensors_gbps": round(nbytes / t_ours / 1e9, 3),
        "sha256_gbps": round(nbytes / t_plain / 1e9, 3),
        "speedup": round(t_plain / t_ours, 2),
        # CPU seconds (all threads): bytes per CPU-second is the hash's own speed whatever the load;
        # cpu / wall is the parallelism the threads actually got (at most the free cores)
        "digest_tensors_cpu_seconds": [round(x, 4) for x in ours_cpu],
        "sha256_cpu_seconds": [round(x, 4) for x in plain_cpu],
        "sha256_gb_per_cpu_second": round(nbytes / c_plain / 1e9, 3) if c_plain else None,
        "digest_tensors_parallelism": round(c_ours / t_ours, 2),
        "sha256_parallelism": round(c_plain / t_plain, 2),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.hashing", description=__doc__.splitlines()[0])
    parser.add_argument("--gib", type=float, default=1.0, help="state dict size in GiB (default 1)")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--json", action="store_true", help="print JSON only")
    args = parser.parse_args(argv)
    result = measure(args.gib, args.repeat)
    if args.json:
        print(json.dumps(result))
    else:
        print(f"{result['bytes'] / (1 << 30):.2f} GiB in {result['tensors']} tensors: digest_tensors "
              f"{result['digest_tensors_gbps']} GB/s, hashlib.sha256 {result['sha256_gbps']} GB/s "
              f"(x{result['speedup']}, {result['threads']} threads)")


if __name__ == "__main__":
    main()
