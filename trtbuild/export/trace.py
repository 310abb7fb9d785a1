"""`trace(model, inputs)`: torch.export with dynamic dims built from the inputs' shape ranges."""

from __future__ import annotations

import inspect
import re
import traceback
from pathlib import Path
from typing import Any, Sequence

import torch

from ..errors import ModelError
from ..inputs import Input


def as_inputs(inputs: Sequence[Any]) -> list[Input]:
    """Accept `Input`s or example tensors (static shapes)."""
    result = []
    for i, item in enumerate(inputs):
        if isinstance(item, Input):
            result.append(item)
        elif isinstance(item, torch.Tensor):
            result.append(Input.from_tensor(item, name=f"input_{i}"))
        else:
            raise ModelError(f"input {i}: expected trtbuild.Input or torch.Tensor, got {type(item).__name__}")
    return result


def _dims(inputs: list[Input]) -> list[dict[int, Any]]:
    """torch.export Dim objects; inputs sharing a dim name share one Dim."""
    shared: dict[str, Any] = {}
    specs = []
    for k, spec in enumerate(inputs):
        dims = {}
        for d in spec.dynamic_dims():
            name = spec.dim_names.get(d) or f"{_ident(spec.name or f'input{k}')}_dim{d}"
            lo, hi = spec.min_shape[d], spec.max_shape[d]
            if name in shared:
                known = shared[name]
                if (known.min, known.max) != (lo, hi):
                    raise ModelError(f"dim {name!r} has range [{known.min}, {known.max}] on one input and "
                                     f"[{lo}, {hi}] on input {spec.name!r}")
            else:
                shared[name] = torch.export.Dim(name, min=lo, max=hi)
            dims[d] = shared[name]
        specs.append(dims)
    return specs


def _ident(text: str) -> str:
    return re.sub(r"\W", "_", text)


def call_by_name(model: torch.nn.Module, inputs: list[Input]) -> bool:
    """Pass inputs as keywords when every input names a forward parameter, out of positional order."""
    params = [p for p in inspect.signature(model.forward).parameters.values()
              if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
    names = [i.name for i in inputs]
    positional = [p.name for p in params[: len(names)]]
    return names != positional and all(n in {p.name for p in params} for n in names)


def _positional_shapes(model: torch.nn.Module, dims: list) -> tuple:
    """dynamic_shapes mirrors forward's parameters: inputs caught by `*args` are one nested tuple."""
    params = list(inspect.signature(model.forward).parameters.values())
    for k, param in enumerate(params):
        if param.kind == param.VAR_POSITIONAL:
            return (*dims[:k], tuple(dims[k:]))
    return tuple(dims)


def _trace_shape(spec: Input, which: str) -> tuple[int, ...]:
    """The example shape to trace with. A dynamic dim is never traced at size 1: torch.export would
    specialize it to the constant 1 (so `opt` equal to a `min` of 1 must not reach the tracer)."""
    shape = list(spec.shape_at(which))
    for d in spec.dynamic_dims():
        if shape[d] == 1:
            shape[d] = 2
    return tuple(shape)


def trace(model: torch.nn.Module, inputs: Sequence[Any], *, which: str = "opt") -> torch.export.ExportedProgram:
    """Export `model` for `inputs` (Input or tensors); dynamic dims come from the shape ranges."""
    specs = as_inputs(inputs)
    examples = [i.random(_trace_shape(i, which)) if not isinstance(t, torch.Tensor) else t
                for i, t in zip(specs, inputs)]
    dims = _dims(specs)
    dynamic = any(dims)
    by_name = call_by_name(model, specs)
    args: tuple = () if by_name else tuple(examples)
    kwargs = {s.name: t for s, t in zip(specs, examples)} if by_name else {}
    shapes: Any = None
    if dynamic:
        shapes = {s.name: d or None for s, d in zip(specs, dims)} if by_name else \
            _positional_shapes(model, [d or None for d in dims])
    model.eval()  # not chained: a quantized (pt2e) GraphModule's eval() returns None
    try:
        with torch.no_grad():
            return torch.export.export(model, args, kwargs, dynamic_shapes=shapes)
    except Exception as exc:
        error = ModelError(_export_message(exc, specs))
        error.dims = _constrained_dims(str(exc), specs)
        raise error from exc


def arity_problem(model: torch.nn.Module, inputs: list[Input]) -> str | None:
    """Why `inputs` cannot be passed to `model.forward` (how many it takes, and their names), or None."""
    params = list(inspect.signature(model.forward).parameters.values())
    if any(p.kind == p.VAR_POSITIONAL for p in params) or call_by_name(model, inputs):
        return None
    positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    required = [p for p in positional if p.default is p.empty]
    if len(required) <= len(inputs) <= len(positional):
        return None
    takes = f"{len(required)}" if len(required) == len(positional) else f"{len(required)} to {len(positional)}"
    return (f"the recipe gives {len(inputs)} input(s) ({', '.join(str(i.name) for i in inputs)}); the model's "
            f"forward takes {takes} ({', '.join(p.name for p in positional)})")


def _constrained_dims(text: str, specs: list[Input]) -> list[tuple[int, int]]:
    """(input index, dim) of each dynamic dim that torch.export's message is about."""
    found = []
    for k, spec in enumerate(specs):
        for d in spec.dynamic_dims():
            names = {spec.dim_names.get(d) or f"{_ident(spec.name or f'input{k}')}_dim{d}"}
            if re.search(rf"L\['{re.escape(str(spec.name))}'\]\.size\(\)\[{d}\]", text) or any(
                    re.search(rf"(?<![\w']){re.escape(n)}(?![\w'])", text) for n in names):
                found.append((k, d))
    return found


def _export_message(exc: Exception, specs: list[Input]) -> str:
    text = str(exc).strip()
    first = text.splitlines()[0] if text else type(exc).__name__
    if "Constraints violated" in text:
        return "torch.export found that the model constrains the dynamic dims:\n  " + "\n  ".join(
            _constraint_lines(text, specs))
    where = _model_line(exc)
    at = f" at {where}" if where else ""
    if "data-dependent" in text.lower() or "GuardOnDataDependent" in type(exc).__name__:
        return (f"torch.export cannot trace the model: its control flow depends on tensor values{at} "
                f"({first}). Rewrite the branch with torch.cond or make it shape-based.")
    return f"torch.export failed{at}: {type(exc).__name__}: {first}"


def _model_line(exc: BaseException) -> str:
    """`file.py:12 in forward`: the deepest frame of the failure outside torch and trtbuild, or ''."""
    library = tuple(str(folder) + "/" for folder in (Path(torch.__file__).parent, Path(__file__).parents[1]))
    frames = [f for f in traceback.extract_tb(exc.__traceback__)
              if not f.filename.startswith(library) and not f.filename.startswith("<")]
    return f"{frames[-1].filename}:{frames[-1].lineno} in {frames[-1].name}" if frames else ""


def _constraint_lines(text: str, specs: list[Input]) -> list[str]:
    """torch.export's constraint report, in recipe terms (inputs, dims and [dims] names)."""
    names = {}
    for k, spec in enumerate(specs):
        for d in spec.dynamic_dims():
            auto = f"{_ident(spec.name or f'input{k}')}_dim{d}"
            names[spec.dim_names.get(d) or auto] = f"input {spec.name} dim {d}" + (
                f" ('{spec.dim_names[d]}')" if d in spec.dim_names else "")

    def recipe_terms(line: str) -> str:
        line = re.sub(r"(\w+) = L\['\w+'\]\.size\(\)\[\d+\]", r"\1", line)  # "b = L['y'].size()[0]" -> "b"
        line = re.sub(r"L\['(\w+)'\]\.size\(\)\[(\d+)\]", r"input \1 dim \2", line)
        line = re.sub(r"\s*If you're using mark_dynamic.*$", "", line)
        line = re.sub(r"Dim\('(\w+)'(?:, )?([^)]*)\)", lambda m: f"range {m.group(2) or 'unbounded'}", line)
        for name, where in sorted(names.items(), key=lambda kv: -len(kv[0])):
            line = re.sub(rf"(?<![\w'])({re.escape(name)})(?![\w'])", where, line)
        return line.replace("your code specialized it", "the model specializes it")

    lines = [recipe_terms(l.strip()[2:]) for l in text.splitlines() if l.strip().startswith("- ")]
    fixes = text.split("Suggested fixes:", 1)[1].strip().split("\n\n")[0].splitlines() if "Suggested fixes:" in text \
        else []
    lines += [f"suggested: {recipe_terms(f.strip())}" for f in fixes if f.strip()]
    return lines or [text.splitlines()[0]]
