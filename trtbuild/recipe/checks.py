"""Checks of a recipe's values that its schema's types cannot express: shape ranges and sizes TensorRT
can build, files that must exist, named dims, integer ranges, GPU targets and precisions.

They run at load, before torch is imported, so a recipe that cannot work is refused in milliseconds.
Each problem is a (field path, message) pair; `warnings()` lists what is suspicious but buildable.
"""

from __future__ import annotations

import glob
import math
import os
import stat
from pathlib import Path
from typing import Iterator

from ..errors import InputError
from .schema import Recipe

INT32_MAX = 2**31 - 1
MAX_RANK = 8  # TensorRT's Dims::MAX_DIMS
DTYPE_BYTES = {"float64": 8, "int64": 8, "float32": 4, "int32": 4, "float16": 2, "bfloat16": 2, "int16": 2,
               "int8": 1, "uint8": 1, "bool": 1}
INT_BOUNDS = {"int8": (-2**7, 2**7), "uint8": (0, 2**8), "int16": (-2**15, 2**15), "int32": (-2**31, 2**31),
              "int64": (-2**63, 2**63)}  # [low, high) of each integer dtype
DEFAULT_MAX_INPUT_GB = 8.0  # sanity cap on example data (see input_bytes_cap)

Problem = tuple[str, str]


def problems(recipe: Recipe) -> list[Problem]:
    """Every problem found, in recipe order."""
    paths = list(_path_problems(recipe))
    files = list(_file_problems(recipe, skip={field for field, _ in paths}))
    return [*paths, *_shape_problems(recipe), *_size_problems(recipe), *_range_problems(recipe), *files,
            *_target_problems(recipe)]


def warnings(recipe: Recipe) -> list[Problem]:
    used = {d for spec in recipe.inputs for d in spec.shape or [] if isinstance(d, str)}
    return [(f"dims.{name}", "defined but no input uses it") for name in recipe.dims if name not in used]


# -- shapes -------------------------------------------------------------------------------------

def _max_dims(recipe: Recipe, i: int) -> list[tuple[int, str]]:
    """(max size, the field that sets it) for each dim of input i."""
    spec = recipe.inputs[i]
    if spec.shape is None:
        return [(hi, f"inputs[{i}].max_shape[{j}]") for j, hi in enumerate(spec.max_shape)]
    return [(recipe.dims[d].max, f"dims.{d}.max") if isinstance(d, str) else (d, f"inputs[{i}].shape[{j}]")
            for j, d in enumerate(spec.shape)]


def _shape_problems(recipe: Recipe) -> Iterator[Problem]:
    for i, spec in enumerate(recipe.inputs):
        rank_field = f"inputs[{i}].shape" if spec.shape is not None else f"inputs[{i}].max_shape"
        rank = len(spec.shape if spec.shape is not None else spec.max_shape)
        if rank > MAX_RANK:
            yield rank_field, f"rank {rank}; TensorRT tensors have at most {MAX_RANK} dims"
        if spec.shape is not None:
            continue
        for j, (lo, opt, hi) in enumerate(zip(spec.min_shape, spec.opt_shape, spec.max_shape)):
            if lo > hi:
                yield f"inputs[{i}].min_shape[{j}]", f"{lo} > max_shape[{j}] {hi}; expected min <= opt <= max"
            elif not lo <= opt <= hi:
                yield f"inputs[{i}].opt_shape[{j}]", f"{opt} outside [min {lo}, max {hi}]; expected min <= opt <= max"


def _size_problems(recipe: Recipe) -> Iterator[Problem]:
    total, largest, reported = 0, None, set()
    for name, dim in recipe.dims.items():  # used or not: a size no GPU can hold is a typo either way
        if dim.max > INT32_MAX:  # the schema holds min <= opt <= max
            reported.add(f"dims.{name}.max")
            yield f"dims.{name}.max", f"{_digits(dim.max)} is larger than TensorRT's limit of {INT32_MAX} per dimension"
    for i, spec in enumerate(recipe.inputs):
        dims = _max_dims(recipe, i)
        big = [(hi, field) for hi, field in dims if hi > INT32_MAX]
        for hi, field in big:
            if field not in reported:  # a named dim is one field, however many inputs use it
                reported.add(field)
                yield field, f"{_digits(hi)} is larger than TensorRT's limit of {INT32_MAX} per dimension"
        if big:
            continue
        elements = math.prod(hi for hi, _ in dims)
        if elements > INT32_MAX:
            yield (f"inputs[{i}]", f"{elements} elements at its max shape {[hi for hi, _ in dims]}; "
                                   f"TensorRT's limit is {INT32_MAX} per tensor")
            continue
        size = elements * DTYPE_BYTES[spec.dtype]
        total += size
        if largest is None or size > largest[0]:
            largest = (size, i)
    cap = input_bytes_cap()
    if largest is not None and total > cap:
        yield (f"inputs[{largest[1]}]", f"the inputs at their max shapes hold {total / 1e9:.1f} GB "
               f"(this one {largest[0] / 1e9:.1f} GB); trtbuild makes example data this large to export and verify, "
               f"over its cap of {cap / 1e9:.1f} GB (set TRTBUILD_MAX_INPUT_GB to raise it)")


def input_bytes_cap() -> float:
    """The most example-input data (at max shapes, all inputs) a recipe may ask for, in bytes."""
    text = os.environ.get("TRTBUILD_MAX_INPUT_GB", "")
    try:
        gb = float(text) if text else DEFAULT_MAX_INPUT_GB
    except ValueError:
        raise InputError(f"TRTBUILD_MAX_INPUT_GB must be a number of GB, not {text!r}") from None
    return gb * 1e9


def _digits(n: int) -> str:
    text = str(n)
    return text if len(text) <= 24 else f"{text[:10]}...({len(text)} digits)"


# -- integer ranges -----------------------------------------------------------------------------

def _range_problems(recipe: Recipe) -> Iterator[Problem]:
    for i, spec in enumerate(recipe.inputs):
        if spec.range is None:
            continue
        field = f"inputs[{i}].range"
        if spec.dtype not in INT_BOUNDS:
            yield field, f"applies to integer inputs only; input {spec.name!r} is {spec.dtype}"
            continue
        low, high = spec.range
        if not all(float(v).is_integer() for v in (low, high)):
            yield field, f"{[low, high]} should hold integers ([low, high) of random {spec.dtype} data)"
            continue
        lo, hi = INT_BOUNDS[spec.dtype]
        if low < lo or high > hi:
            yield field, f"{[int(low), int(high)]} does not fit {spec.dtype}, whose values are [{lo}, {hi})"


# -- files --------------------------------------------------------------------------------------

def _path_texts(recipe: Recipe) -> Iterator[tuple[str, str]]:
    """(field, text) of every recipe value that becomes part of a path."""
    if recipe.name is not None:
        yield "name", recipe.name
    for field in ("weights", "program"):
        if getattr(recipe.model, field):
            yield f"model.{field}", getattr(recipe.model, field)
    for k, pattern in enumerate(recipe.model.sources):
        yield f"model.sources[{k}]", pattern
    if recipe.output.dir is not None:
        yield "output.dir", recipe.output.dir


def _path_problems(recipe: Recipe) -> Iterator[Problem]:
    for field, text in _path_texts(recipe):
        if "\0" in text:
            yield field, "holds a NUL character, which no file name may"
        elif field == "name" and (not text or "/" in text or text in (".", "..")):
            yield field, f"{text!r} names the output folder (build/{{name}}): it must be one folder name, without '/'"
        elif field == "name" and len(text.encode()) > 255:
            yield field, f"{len(text.encode())} bytes long; it names the output folder, and file names hold 255"


def _file_problems(recipe: Recipe, skip: set[str]) -> Iterator[Problem]:
    for field in ("weights", "program"):
        relative = getattr(recipe.model, field)
        if relative and f"model.{field}" not in skip:
            problem = unreadable(recipe.folder / relative)  # not resolve(): a symlink loop would raise
            if problem:
                yield f"model.{field}", problem
    for k, pattern in enumerate(recipe.model.sources):
        if f"model.sources[{k}]" in skip:
            continue
        full = pattern if Path(pattern).is_absolute() else str(recipe.folder / pattern)
        if not any(Path(p).is_file() for p in glob.iglob(full, recursive=True)):
            yield f"model.sources[{k}]", f"{pattern!r} matches no file (looked in {recipe.folder})"


def unreadable(path: Path) -> str | None:
    """What stops `path` being read as a file, or None."""
    try:
        mode = path.stat().st_mode
        if stat.S_ISDIR(mode):
            return f"{path} is a directory, not a file"
        if not stat.S_ISREG(mode):
            return f"{path} is not a regular file"
        with open(path, "rb"):
            return None
    except FileNotFoundError:
        return f"file not found: {path}"
    except OSError as exc:
        return f"cannot read {path}: {exc.strerror or exc}"
    except ValueError as exc:  # a NUL in the name (reported by _path_problems; kept here for callers)
        return f"cannot read {path!r}: {exc}"


# -- GPU targets and precisions -----------------------------------------------------------------

def _target_problems(recipe: Recipe) -> Iterator[Problem]:
    from ..engine.backend import BF16_MIN_CC, known_compute_capabilities

    precisions = recipe.settings.enabled_precisions
    if "float16" in precisions and "bfloat16" in precisions:
        yield ("settings.enabled_precisions", "float16 and bfloat16 together: the network computes in one low "
               "float type (strongly typed); keep one of them")
    ccs = recipe.target.compute_capabilities
    if not ccs:
        return
    flavour, known = known_compute_capabilities(recipe.target.backend)
    if known == ():
        yield ("target.compute_capabilities", f"{flavour} builds for the GPU of the building machine only; "
               "ahead-of-time targets need tensorrt_rtx (or leave this list empty)")
        return
    if known is not None:
        unknown = [cc for cc in ccs if cc not in known]
        if unknown:
            yield ("target.compute_capabilities", f"{', '.join(unknown)} not known to the installed {flavour}; "
                   f"it builds for {', '.join(sorted(known, key=_cc_order))}")
            return
    if "bfloat16" in precisions:
        old = [cc for cc in ccs if _cc_order(cc) < _cc_order(BF16_MIN_CC)]
        if old:
            yield ("settings.enabled_precisions", f"bfloat16 needs compute capability {BF16_MIN_CC} or newer; "
                   f"target.compute_capabilities has {', '.join(old)}")


def _cc_order(cc: str) -> tuple[int, ...]:
    return tuple(int(p) for p in cc.split("."))
