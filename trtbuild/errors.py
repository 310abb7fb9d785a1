"""The error hierarchy. The CLI maps each class to a documented exit code.

Exit codes: 0 ok, 1 build failed (also: the cache or the output dir cannot be written, e.g. read-only
or full), 2 bad input (recipe, model, weights, settings in the environment), 3 `--check` found work.
"""

from __future__ import annotations

import re


class TrtbuildError(Exception):
    """An expected failure with a message a user can act on (no traceback needed). `hint` says what to
    do next; the CLI prints it under the error."""

    exit_code = 1
    hint: str | None = "run again with --debug to see the traceback"


class InputError(TrtbuildError):
    """The user's input is wrong: a recipe, an input spec, a setting, a factory or weights."""

    exit_code = 2


class RecipeError(InputError):
    """A recipe field is invalid. The message names the file and the field path."""

    def __init__(self, path: str, field: str | None, message: str):
        self.path, self.field, self.detail = path, field, message
        where = f"{path}: {field}" if field else str(path)
        super().__init__(f"{where}: {message}")

    @property
    def hint(self) -> str:
        for pattern, hint in RECIPE_HINTS:
            if re.search(pattern, self.field or ""):
                return hint
        return "`trtbuild schema` describes every field and its type"


class ModelError(InputError):
    """The model cannot be built, loaded or exported."""

    hint = "call the factory and torch.export.export in Python to reproduce it; --debug shows the traceback"


class BuildError(TrtbuildError):
    """The compiler failed on a valid input (unsupported op, TensorRT rejected a layer, ...).

    `node` names the FX node the failure is attributed to (None when it cannot be), and `reason`
    is the message without the node's description: the pipeline leaves such a node to torch."""

    def __init__(self, message: str, *, node: str | None = None, reason: str | None = None):
        super().__init__(message)
        self.node, self.reason = node, reason or message


class UnsupportedOpError(BuildError):
    """An op has no converter (or failed its capability check) under require_full_compilation."""

    hint = "set [settings] require_full_compilation = false to run these ops in torch"


class ConversionError(BuildError):
    """A converter or TensorRT rejected a node. The message names the node and its source."""

    hint = "run the op in torch: add it to [settings] torch_executed_ops (e.g. \"aten.relu\"), and report it"


class CacheError(TrtbuildError):
    """The cache cannot be used (not writable, full, ...)."""

    hint = "check the cache dir's permissions and free space, or point --cache-dir elsewhere"


# What to do next about a recipe field, by a pattern of its path (first match wins).
RECIPE_HINTS = (
    (r"^model\.(weights|program)", "paths in [model] are relative to the recipe's folder"),
    (r"^model\.sources", "globs in [model] sources are relative to the recipe's folder"),
    (r"^model\.factory", "factory is 'module:callable'; the recipe's folder is searched first, then sys.path"),
    (r"^inputs$", "give one [[inputs]] table per argument of the model's forward, in its order (or named "
                  "after its parameters)"),
    (r"^dims\.", "a named dim is { min = 1, opt = 8, max = 32 } with 1 <= min <= opt <= max"),
    (r"shape", "give shape = [...] or min_shape/opt_shape/max_shape, with 1 <= min <= opt <= max per dim"),
    (r"\.range$", "range = [low, high) bounds random integer data; it must fit the input's dtype"),
    (r"^target\.compute_capabilities", "list the GPUs to build for, e.g. [\"8.6\", \"8.9\"], or leave it empty"),
    (r"^settings\.enabled_precisions", "float32 plus at most one of float16 or bfloat16"),
)


class EngineUnavailableError(RuntimeError):
    """This host cannot run a TensorRT engine (no CUDA device or an unsupported GPU)."""
