"""The error hierarchy. The CLI maps each class to a documented exit code.

Exit codes: 0 ok, 1 build failed (also: the cache or the output dir cannot be written, e.g. read-only
or full), 2 bad input (recipe, model, weights, settings in the environment), 3 `--check` found work.
"""

from __future__ import annotations


class TrtbuildError(Exception):
    """An expected failure with a message a user can act on (no traceback needed)."""

    exit_code = 1


class InputError(TrtbuildError):
    """The user's input is wrong: a recipe, an input spec, a setting, a factory or weights."""

    exit_code = 2


class RecipeError(InputError):
    """A recipe field is invalid. The message names the file and the field path."""

    def __init__(self, path: str, field: str | None, message: str):
        self.path, self.field, self.detail = path, field, message
        where = f"{path}: {field}" if field else str(path)
        super().__init__(f"{where}: {message}")


class ModelError(InputError):
    """The model cannot be built, loaded or exported."""


class BuildError(TrtbuildError):
    """The compiler failed on a valid input (unsupported op, TensorRT rejected a layer, ...).

    `node` names the FX node the failure is attributed to (None when it cannot be), and `reason`
    is the message without the node's description: the pipeline leaves such a node to torch."""

    def __init__(self, message: str, *, node: str | None = None, reason: str | None = None):
        super().__init__(message)
        self.node, self.reason = node, reason or message


class UnsupportedOpError(BuildError):
    """An op has no converter (or failed its capability check) under require_full_compilation."""


class ConversionError(BuildError):
    """A converter or TensorRT rejected a node. The message names the node and its source."""


class CacheError(TrtbuildError):
    """The cache cannot be used (not writable, full, ...)."""


class EngineUnavailableError(RuntimeError):
    """This host cannot run a TensorRT engine (no CUDA device or an unsupported GPU)."""
