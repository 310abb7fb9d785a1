"""Why a recipe's key is what it is, and what changed since its last build."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

# Key document fields, in the order `explain` prints them.
COMPONENTS = ("graph", "weights", "inputs", "settings", "quantize", "backend", "target", "trtbuild", "compiler",
              "format")


def last_key_doc(out_dir: Path) -> dict[str, Any] | None:
    try:
        return json.loads((out_dir / "manifest.json").read_text()).get("key_doc")
    except (OSError, ValueError):
        return None


def _short(value: Any) -> str:
    text = json.dumps(value, sort_keys=True) if not isinstance(value, str) else value
    return text if len(text) <= 80 else text[:77] + "..."


def _diff_dicts(prefix: str, old: dict, new: dict) -> list[str]:
    lines = []
    for key in sorted(set(old) | set(new)):
        a, b = old.get(key), new.get(key)
        if a != b:
            lines.append(f"{prefix}.{key}: {_short(a)} -> {_short(b)}")
    return lines


def _diff_weights(old: dict[str, str], new: dict[str, str]) -> list[str]:
    changed = sorted(k for k in set(old) & set(new) if old[k] != new[k])
    added, removed = sorted(set(new) - set(old)), sorted(set(old) - set(new))
    parts = []
    for label, names in (("changed", changed), ("added", added), ("removed", removed)):
        if names:
            shown = ", ".join(names[:8]) + (f", ... ({len(names) - 8} more)" if len(names) > 8 else "")
            parts.append(f"{len(names)} tensor{'s' if len(names) != 1 else ''} {label} ({shown})")
    return [f"weights: {'; '.join(parts)}"] if parts else []


def diff_key_docs(old: dict[str, Any] | None, new: dict[str, Any]) -> list[str]:
    """Human-readable changes, e.g. `settings.min_block_size: 5 -> 3`."""
    if old is None:
        return ["no previous build"]
    lines: list[str] = []
    for field in COMPONENTS:
        a, b = old.get(field), new.get(field)
        if a == b:
            continue
        if field == "weights":
            lines += _diff_weights(old.get("weight_digests", {}), new.get("weight_digests", {})) or ["weights changed"]
        elif isinstance(a, dict) and isinstance(b, dict):
            lines += _diff_dicts(field, a, b)
        elif field == "inputs" and isinstance(a, list) and isinstance(b, list):
            lines += [f"inputs[{i}]: {_short(x)} -> {_short(y)}" for i, (x, y) in enumerate(zip(a, b)) if x != y]
            if len(a) != len(b):
                lines.append(f"inputs: {len(a)} -> {len(b)} inputs")
        elif field == "graph":
            lines.append("graph: the exported graph changed (ops, arguments, shapes or dtypes)")
        else:
            lines.append(f"{field}: {_short(a)} -> {_short(b)}")
    return lines


def calibration_status(doc: dict[str, Any], store: Any) -> dict[str, Any] | None:
    """For a quantized recipe: its calibration key and whether make would reuse cached scales."""
    key = (doc.get("quantize") or {}).get("calibration_key")
    if key is None:
        return None
    cached = store is not None and store.get_meta("calibration", key) is not None
    return {"key": key, "cached": cached,
            "says": "scales cached: make reuses them, no calibration" if cached else
                    "scales not cached: make will calibrate"}


def components(doc: dict[str, Any]) -> dict[str, Any]:
    """The key's components, compact: digests for graph and weights, values for the rest."""
    out = {field: doc.get(field) for field in COMPONENTS if field != "quantize" or "quantize" in doc}
    out["weights"] = {"digest": doc.get("weights"), "tensors": len(doc.get("weight_digests", {}))}
    return out
