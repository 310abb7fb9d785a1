"""Instantiate a recipe's model: import the factory, call it, load weights. Never unpickle."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from typing import Any

import torch

from ..errors import ModelError, RecipeError
from ..resources import imports_without_gc


def import_factory(spec: str, folder: Path, recipe_path: str, field: str = "model.factory") -> Any:
    """Import 'module:callable' (the recipe's `field`), searching the recipe's folder first."""
    module_name, _, attr = spec.partition(":")
    sys.path.insert(0, str(folder))
    try:
        with imports_without_gc():  # a model zoo's import (torchvision, timm) is large too
            module = importlib.import_module(module_name)
    except Exception as exc:
        raise RecipeError(recipe_path, field,
                          f"cannot import module {module_name!r}: {type(exc).__name__}: {exc}") from exc
    finally:
        sys.path.remove(str(folder))
    obj: Any = module
    for part in attr.split("."):
        obj = getattr(obj, part, None)
        if obj is None:
            raise RecipeError(recipe_path, field, f"module {module_name!r} has no attribute {attr!r}")
    if not callable(obj):
        raise RecipeError(recipe_path, field, f"{spec!r} is not callable")
    return obj


def build_model(recipe: Any) -> torch.nn.Module:
    where = str(recipe.path)
    factory = import_factory(recipe.model.factory, recipe.folder, where)
    torch.manual_seed(recipe.model.seed)  # random initialisation must give the same weights (and key) every run
    try:
        model = factory(**recipe.model.kwargs)
    except Exception as exc:
        raise ModelError(f"{where}: model.factory {recipe.model.factory!r} raised "
                         f"{type(exc).__name__}: {exc}") from exc
    if not isinstance(model, torch.nn.Module):
        raise ModelError(f"{where}: model.factory {recipe.model.factory!r} returned "
                         f"{type(model).__name__}, not a torch.nn.Module")
    if recipe.model.weights:
        load_weights(model, recipe.resolve(recipe.model.weights), where)
    return model.eval()


def read_state_dict(path: Path, where: str) -> dict[str, torch.Tensor]:
    if not path.is_file():
        raise RecipeError(where, "model.weights", f"file not found: {path}")
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            return load_file(str(path))
        state = torch.load(path, weights_only=True, map_location="cpu")
    except Exception as exc:
        raise RecipeError(where, "model.weights", f"cannot read {path.name}: {type(exc).__name__}: {exc}") from exc
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise RecipeError(where, "model.weights", f"{path.name} does not hold a state dict of tensors")
    return state


def load_weights(model: torch.nn.Module, path: Path, where: str) -> None:
    state = read_state_dict(path, where)
    own = model.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    mismatched = sorted(k for k in set(own) & set(state) if own[k].shape != state[k].shape)
    problems = []
    if missing:
        problems.append(f"missing {len(missing)} tensor(s): {', '.join(missing[:5])}")
    if unexpected:
        problems.append(f"unexpected {len(unexpected)} tensor(s): {', '.join(unexpected[:5])}")
    for k in mismatched[:5]:
        problems.append(f"{k}: shape {tuple(state[k].shape)} in file, {tuple(own[k].shape)} in model")
    if problems:
        raise RecipeError(where, "model.weights", f"{path.name} does not match the model: " + "; ".join(problems))
    model.load_state_dict(state, strict=True)


def load_program(recipe: Any) -> torch.export.ExportedProgram:
    where = str(recipe.path)
    path = recipe.resolve(recipe.model.program)
    if not path.is_file():
        raise RecipeError(where, "model.program", f"file not found: {path}")
    try:
        with _tensors_only():
            return torch.export.load(str(path))
    except Exception as exc:
        raise RecipeError(where, "model.program", f"cannot load {path.name}: {type(exc).__name__}: {exc}") from exc


class _tensors_only:
    """Force weights_only loading inside torch.export.load, which would otherwise fall back to
    full unpickling for payloads it cannot read as plain tensors (code execution on load)."""

    def __enter__(self) -> None:
        self._original = original = torch.load

        def strict_load(*args: Any, **kwargs: Any) -> Any:
            kwargs["weights_only"] = True
            return original(*args, **kwargs)

        torch.load = strict_load

    def __exit__(self, *exc: Any) -> None:
        torch.load = self._original
