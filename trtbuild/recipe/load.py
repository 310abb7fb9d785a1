"""Read recipe files: TOML, folder defaults (`trtbuild.toml`), validation with field paths."""

from __future__ import annotations

import difflib
import glob
import re
import tomllib
import typing
from pathlib import Path
from typing import Any, Callable

from pydantic import BaseModel, ValidationError

from ..errors import RecipeError
from . import checks
from .schema import Recipe

DEFAULTS_FILE = "trtbuild.toml"
# Sections a folder's trtbuild.toml may set for every recipe below it.
DEFAULT_SECTIONS = ("settings", "target", "output", "verify", "quantize", "cache")


def read_toml(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise RecipeError(str(path), None, "file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise RecipeError(str(path), None, f"cannot read: {exc}") from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise RecipeError(str(path), None, f"invalid TOML: {exc}") from None


def _project_root(start: Path) -> Path:
    for folder in [start, *start.parents]:
        if (folder / "pyproject.toml").exists() or (folder / ".git").exists():
            return folder
    return start


def defaults_files(recipe_path: Path) -> list[Path]:
    """`trtbuild.toml` files from the project root down to the recipe's folder (outermost first)."""
    folder = recipe_path.resolve().parent
    root = _project_root(folder)
    chain = []
    for parent in [folder, *folder.parents]:
        candidate = parent / DEFAULTS_FILE
        if candidate.is_file() and candidate.resolve() != recipe_path.resolve():
            chain.append(candidate)
        if parent == root:
            break
    return chain[::-1]


def _merge(base: dict, override: dict) -> dict:
    out = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def load_defaults(recipe_path: Path) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    for path in defaults_files(recipe_path):
        data = read_toml(path)
        for key in data:
            if key not in DEFAULT_SECTIONS:
                raise RecipeError(str(path), key, _unknown_message(key, DEFAULT_SECTIONS, "section for defaults"))
        merged = _merge(merged, data)
    merged.pop("cache", None)  # cache options are read by the CLI, not the recipe schema
    return merged


def load_recipe(path: str | Path, warn: Callable[[str], None] | None = None) -> Recipe:
    """Load and validate one recipe; raise `RecipeError` naming the file and field on bad input.

    Validation covers the values too (recipe/checks.py), without importing torch; `warn` hears about
    what is suspicious but buildable (a named dim no input uses)."""
    path = Path(path)
    data = _merge(load_defaults(path), read_toml(path))
    try:
        recipe = Recipe.model_validate(data)
    except ValidationError as exc:
        raise _recipe_error(path, exc) from None
    recipe._path = path.resolve()
    found = checks.problems(recipe)
    if found:
        messages: dict[str, list[str]] = {}
        for field, text in found:
            messages.setdefault(field, []).append(text)
        raise _one_error(path, {field: ["; ".join(texts)] for field, texts in messages.items()})
    for field, text in checks.warnings(recipe) if warn else ():
        warn(f"{path}: {field}: {text}")
    return recipe


def find_recipes(targets: list[str]) -> list[Path]:
    """Expand files, globs and folders into recipe files (sorted, no duplicates, no defaults files)."""
    found: dict[Path, None] = {}
    for target in targets:
        candidate = Path(target)
        if candidate.is_dir():
            paths = sorted(p for p in candidate.rglob("*.toml") if p.name != DEFAULTS_FILE)
        elif any(ch in target for ch in "*?["):
            paths = sorted(Path(p) for p in glob.glob(target, recursive=True) if p.endswith(".toml"))
            paths = [p for p in paths if p.name != DEFAULTS_FILE]
        else:
            paths = [candidate]
        if not paths:
            raise RecipeError(target, None, "no recipes found")
        for p in paths:
            found.setdefault(p, None)
    return list(found)


# --- error messages -------------------------------------------------------------------------

def _field_path(loc: tuple) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _walk(loc: tuple) -> tuple[int, Any]:
    """Follow `loc` through the schema: (how many leading parts are fields, list indices or table names,
    the type reached). What follows is not the recipe's: pydantic names a union's failing member there."""
    current: Any = Recipe
    keyed = False  # the previous field is a {name: model} table, so this part is one of its names
    for depth, part in enumerate(loc):
        if isinstance(part, int) or keyed:
            keyed = False
            continue
        if not (isinstance(current, type) and issubclass(current, BaseModel)) or part not in current.model_fields:
            return depth, None
        annotation = current.model_fields[part].annotation
        keyed, current = typing.get_origin(annotation) is dict, _unwrap(annotation)
    return len(loc), current


def _model_at(loc: tuple) -> type[BaseModel] | None:
    """The schema class that owns the last element of `loc` (for did-you-mean suggestions)."""
    depth, current = _walk(loc)
    return current if depth == len(loc) and isinstance(current, type) and issubclass(current, BaseModel) else None


def _unwrap(annotation: Any) -> Any:
    for arg in typing.get_args(annotation) or ():
        inner = _unwrap(arg)
        if isinstance(inner, type) and issubclass(inner, BaseModel):
            return inner
    return annotation


def _unknown_message(key: str, known: typing.Iterable[str], what: str = "field") -> str:
    close = difflib.get_close_matches(key, list(known), n=1, cutoff=0.6)
    hint = f"; did you mean {close[0]!r}?" if close else f"; expected one of: {', '.join(sorted(known))}"
    return f"unknown {what} {key!r}{hint}"


def _recipe_error(path: Path, exc: ValidationError) -> RecipeError:
    messages: dict[str, list[str]] = {}
    for error in exc.errors():
        loc = tuple(error["loc"])
        if error["type"] == "extra_forbidden":
            owner = _model_at(loc[:-1])
            known = owner.model_fields if owner else []
            text = _unknown_message(str(loc[-1]), known)
        else:
            loc = loc[:_walk(loc)[0]]  # "shape[3].int": the field is shape[3]
            text = error["msg"].removeprefix("Value error, ")
            if error["type"] not in ("missing", "value_error", "assertion_error") and "input" in error:
                text += f" (got {error['input']!r})"
        field = _field_path(loc)
        nested = re.match(r"^([\w\.\[\]]+): (.*)$", text, re.S)
        if nested and ("[" in nested.group(1) or "." in nested.group(1)):  # a model-level check naming the field
            field = ".".join(p for p in (field, nested.group(1)) if p)
            text = nested.group(2)
        messages.setdefault(field or "(top level)", []).append(text)
    return _one_error(path, messages)


def _one_error(path: Path, messages: dict[str, list[str]]) -> RecipeError:
    """One error for every field at fault: the first on the error line, the others below it."""
    (field, texts), *others = messages.items()  # one line per field: a union's members share one
    more = "".join(f"\n  {p}: {', or '.join(t)}" for p, t in others)
    return RecipeError(str(path), field, ", or ".join(texts) + more)
