"""Calibration data for post-training quantization, and the key its scales are cached under.

Batches come from the recipe's `[quantize] calibration = "module:callable"` (the recipe's folder is
searched first, like factories), which returns an iterable of batches: a tensor (one input), a
tuple or list of tensors (in the recipe's input order) or a dict by input name. Without it, seeded
random inputs at the recipe's `opt` shapes stand in, with a warning: scales from random data are
for testing only.
"""

from __future__ import annotations

import importlib.metadata
import inspect
import itertools
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import torch

from ..cache.digest import digest_bytes, digest_doc, digest_tensors
from ..errors import RecipeError
from ..timing import Timings
from .model import import_factory
from .quantize import Quantized

CALIBRATION_FORMAT = 1
RANDOM_SEED = 1  # not verify's seed 0: the error reported against float is not measured on calibration data
RANDOM_WARNING = ("no quantize.calibration given: scales come from random inputs, which is for testing only; "
                  "name a 'module:callable' returning real input batches")


def calibration_batches(recipe: Any, warn: Callable[[str], None] | None = None) -> list[list[torch.Tensor]]:
    """`quantize.samples` batches, each a list of tensors in the recipe's input order."""
    spec, inputs, where = recipe.quantize, recipe.compile_inputs(), str(recipe.path)
    if spec.calibration is None:
        (warn or (lambda message: None))(f"{recipe.display_name}: {RANDOM_WARNING}")
        generator = torch.Generator().manual_seed(RANDOM_SEED)
        return [[i.random(i.opt_shape, generator) for i in inputs] for _ in range(spec.samples)]
    source = import_factory(spec.calibration, recipe.folder, where, field="quantize.calibration")
    try:
        batches = list(itertools.islice(iter(source()), spec.samples))
    except Exception as exc:
        raise RecipeError(where, "quantize.calibration", f"{spec.calibration!r} raised {type(exc).__name__}: {exc}") \
            from exc
    if not batches:
        raise RecipeError(where, "quantize.calibration", f"{spec.calibration!r} returned no batches")
    return [_as_list(batch, inputs, where, k) for k, batch in enumerate(batches)]


def _as_list(batch: Any, inputs: list, where: str, k: int) -> list[torch.Tensor]:
    names = [i.name for i in inputs]
    if isinstance(batch, dict):
        missing = [n for n in names if n not in batch]
        if missing:
            raise RecipeError(where, "quantize.calibration", f"batch {k} has no {', '.join(map(repr, missing))}")
        batch = [batch[n] for n in names]
    elif isinstance(batch, torch.Tensor):
        batch = [batch]
    batch = list(batch) if isinstance(batch, (list, tuple)) else [batch]
    if len(batch) != len(inputs) or not all(isinstance(t, torch.Tensor) for t in batch):
        raise RecipeError(where, "quantize.calibration", f"batch {k} should be {len(inputs)} tensor(s) "
                          f"({', '.join(names)}), got {_describe(batch)}")
    for spec, tensor in zip(inputs, batch):
        if tensor.dim() != len(spec.opt_shape) or str(tensor.dtype).removeprefix("torch.") != spec.dtype:
            raise RecipeError(where, "quantize.calibration", f"batch {k}: input {spec.name!r} is "
                              f"{tensor.dtype} {list(tensor.shape)}; the recipe declares {spec.dtype} "
                              f"{list(spec.opt_shape)}")
    return batch


def _describe(items: list) -> str:
    return "[" + ", ".join(type(t).__name__ for t in items) + "]"


def calibration_key_doc(recipe: Any, float_doc: dict[str, Any], batches: list[list[torch.Tensor]]) -> dict[str, Any]:
    """What decides the scales: the float graph and weights, the quantize settings that shape the
    observers, the calibration callable's source and data, and the code that calibrates."""
    spec = recipe.quantize
    data = [digest_tensors((str(i), t) for i, t in enumerate(batch)) for batch in batches]
    return {
        "format": CALIBRATION_FORMAT,
        "graph": float_doc["graph"],
        "weights": float_doc["weights"],
        "quantize": spec.model_dump(mode="json"),
        "source": _source_digest(spec.calibration, recipe) if spec.calibration else None,
        "data": digest_doc(data),
        "code": {"quantizer": digest_bytes(Path(__file__).with_name("quantize.py").read_bytes()),
                 "torch": torch.__version__, "torchao": _version("torchao")},
    }


def _source_digest(spec: str, recipe: Any) -> str | None:
    try:
        path = inspect.getsourcefile(import_factory(spec, recipe.folder, str(recipe.path), field="quantize.calibration"))
    except TypeError:  # a builtin or C callable has no source file
        return None
    return digest_bytes(Path(path).read_bytes()) if path else None


def _version(dist: str) -> str | None:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


@dataclass
class Calibration:
    """The recipe's calibration batches and the cache key of the scales they give."""

    key: str
    doc: dict[str, Any]
    batches: list[list[torch.Tensor]]


def calibration_for(recipe: Any, float_doc: dict[str, Any], warn: Callable[[str], None] | None = None) -> Calibration:
    batches = calibration_batches(recipe, warn)
    doc = calibration_key_doc(recipe, float_doc, batches)
    return Calibration(digest_doc(doc), doc, batches)


def quantized_program(recipe: Any, program: torch.export.ExportedProgram, calibration: Calibration, store: Any,
                      timings: Timings) -> Quantized:
    """The recipe's program with Q/DQ ops: scales from the cache entry `calibration/<key>` when it is
    there (no calibration stage), otherwise calibrated now and stored."""
    from .quantize import calibrate, convert, observer_states, prepare, restore_observers
    from .trace import call_by_name

    inputs = recipe.compile_inputs()
    entry = store.get_meta("calibration", calibration.key) if store is not None else None
    with timings.stage("quantize"):
        prepared = prepare(recipe, program)
        restored = entry is not None and restore_observers(prepared, entry.get("observers"))
    if not restored:
        names = [i.name for i in inputs] if call_by_name(prepared, inputs) else None
        with timings.stage("calibrate"):
            calibrate(prepared, calibration.batches, names)
        if store is not None:
            store.put_meta("calibration", calibration.key, {"key": calibration.key, "key_doc": calibration.doc,
                                                            "seconds": round(timings.seconds["calibrate"], 3),
                                                            "observers": observer_states(prepared)})
    with timings.stage("quantize"):
        return convert(prepared, inputs)
