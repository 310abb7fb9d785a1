"""Build artifacts: an assembled module on disk, and `load(dir)` to get it back without compiling.

Layout of an output dir:
  manifest.json                 the top-level graph, segments, key and key document
  engines/<sha256>.plan         serialized TensorRT engines
  graphs/<sha256>.json|.safetensors   torch fallback segments (pickle-free graph format)
Writing and reading the files (temp + rename, one writer at a time) is in output.py, which does
not import torch.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

from ..cache.digest import digest_bytes
from .graph_io import dump_graph, load_graph
from .output import FORMAT, ArtifactError, read_manifest, write_artifacts
from .runtime import TRTEngineModule
from .signature import apply_signature

__all__ = ["ArtifactError", "describe_module", "load", "read_manifest", "write_artifacts"]


def describe_module(module: torch.fx.GraphModule, segments: list, meta: dict[str, Any]
                    ) -> tuple[dict[str, Any], dict[str, bytes]]:
    """(manifest, files by relative path) for an assembled module."""
    files: dict[str, bytes] = {}

    def add(data: bytes, folder: str, suffix: str, digest: str | None = None) -> dict[str, str]:
        digest = digest or digest_bytes(data)
        path = f"{folder}/{digest}{suffix}"
        files[path] = data
        return {"file": path, "sha256": digest}

    entries = []
    for seg in segments:
        sub = getattr(module, seg.name)
        entry: dict[str, Any] = {"name": seg.name, "kind": seg.kind}
        if seg.kind == "tensorrt":
            entry.update(add(sub.plan, "engines", ".plan", seg.engine_digest))
            entry.update(key=seg.key, inputs=seg.inputs, outputs=seg.outputs, profiles=seg.profiles, flavour=sub.flavour,
                         compute_capabilities=sub.compute_capabilities)
        else:
            graph, weights = dump_graph(sub)
            entry["graph"] = add(json.dumps(graph, sort_keys=True).encode(), "graphs", ".json")
            entry["weights"] = add(weights, "graphs", ".safetensors") if weights else None
        entries.append(entry)
    graph, weights = dump_graph(module)
    manifest = {"format": FORMAT, **meta, "graph": graph, "segments": entries,
                "signature": getattr(module, "trtbuild_signature", None),
                "weights": add(weights, "graphs", ".safetensors") if weights else None}
    return manifest, files


def _read_verified(out_dir: Path, ref: dict[str, str] | None) -> bytes:
    if ref is None:
        return b""
    path = out_dir / ref["file"]
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ArtifactError(f"cannot read {path}: {exc.strerror or exc}") from None
    if digest_bytes(data) != ref["sha256"]:
        raise ArtifactError(f"{path} is corrupt: its SHA-256 does not match the manifest")
    return data


def load(out_dir: str | Path) -> torch.fx.GraphModule:
    """Rebuild the assembled GraphModule from a build directory. Compiles nothing, unpickles nothing."""
    out_dir = Path(out_dir)
    manifest = read_manifest(out_dir)
    submodules: dict[str, torch.nn.Module] = {}
    for seg in manifest["segments"]:
        if seg["kind"] == "tensorrt":
            submodules[seg["name"]] = TRTEngineModule(
                _read_verified(out_dir, seg), seg["inputs"], seg["outputs"], flavour=seg["flavour"],
                compute_capabilities=seg["compute_capabilities"], key=seg["key"], profiles=seg.get("profiles", []))
        else:
            graph = json.loads(_read_verified(out_dir, seg["graph"]))
            submodules[seg["name"]] = load_graph(graph, _read_verified(out_dir, seg.get("weights")))
    module = load_graph(manifest["graph"], _read_verified(out_dir, manifest.get("weights")), submodules)
    module.trtbuild_manifest = {k: v for k, v in manifest.items() if k not in ("graph",)}
    return apply_signature(module, manifest.get("signature"))
