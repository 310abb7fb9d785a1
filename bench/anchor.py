"""The comparison tool: Torch-TensorRT's TensorRT-RTX build, in a venv of its own that the bench makes.

The venv holds torch and torchvision at the versions of the interpreter running the bench (never a
newer torch), `torch-tensorrt-rtx` and the TensorRT-RTX release it requires, and trtbuild's own
runtime dependencies: in a comparison both tools run on this one interpreter, so they share torch and
TensorRT-RTX exactly. `ensure_venv` is idempotent: a venv whose recorded requirements match is reused.
"""

from __future__ import annotations

import importlib.metadata
import json
import re
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
VENV = ROOT / "build" / "bench" / "anchor-venv"
# torch-tensorrt-rtx 2.14.0 is the release built against torch 2.14; it requires tensorrt_rtx >=1.6.1.120,<1.7
TOOL = {"torch-tensorrt-rtx": "2.14.0", "tensorrt-rtx": "1.6.1.120"}
MARKER = "bench-requirements.txt"


def requirements(root: Path = ROOT) -> list[str]:
    """Pinned torch, torchvision and the tool, plus trtbuild's runtime and zoo dependencies."""
    pins = {"torch": importlib.metadata.version("torch"), "torchvision": importlib.metadata.version("torchvision"),
            **TOOL}
    project = tomllib.loads((root / "pyproject.toml").read_text())["project"]
    extra = [*project["dependencies"], *project["optional-dependencies"]["zoo"]]
    pinned = [f"{name}=={version}" for name, version in pins.items()]
    return pinned + [r for r in extra if _name(r) not in pins]


def _name(requirement: str) -> str:
    return re.split(r"[<>=!~\[; ]", requirement, maxsplit=1)[0].strip().lower().replace("_", "-")


def venv_python(venv: Path = VENV) -> Path:
    return venv / "bin" / "python"


def ensure_venv(venv: Path = VENV, log: Any = print) -> Path:
    """Create or reuse the comparison venv; return its interpreter."""
    wanted = "\n".join(requirements()) + "\n"
    marker = venv / MARKER
    python = venv_python(venv)
    if python.exists() and marker.exists() and marker.read_text() == wanted:
        return python
    if not python.exists():
        log(f"bench: creating {venv}")
        subprocess.run([_base_python(), "-m", "venv", str(venv)], check=True)
    log(f"bench: installing the comparison tool into {venv} (a few minutes the first time)")
    subprocess.run([str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                    *wanted.split()], check=True)
    marker.write_text(wanted)
    return python


def _base_python() -> str:
    """The interpreter the bench runs on, outside its venv (venv's `home`), so versions match."""
    base = Path(sys.base_prefix) / "bin" / f"python{sys.version_info.major}.{sys.version_info.minor}"
    return str(base) if base.exists() else sys.executable


def installed_versions(python: Path) -> dict[str, str | None]:
    """Versions of the shared libraries and the tool in the comparison venv (no import of them)."""
    code = ("import importlib.metadata as m, json\n"
            "def v(d):\n    try: return m.version(d)\n    except m.PackageNotFoundError: return None\n"
            "print(json.dumps({d: v(d) for d in ('torch', 'torchvision', 'tensorrt-rtx', 'torch-tensorrt-rtx')}))")
    out = subprocess.run([str(python), "-c", code], capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


def driver_spec(recipe_path: str, out_dir: Path) -> dict[str, Any]:
    """What the driver needs from a recipe: the same model, seed, inputs and settings that trtbuild builds."""
    from trtbuild.recipe import load_recipe

    recipe = load_recipe(recipe_path)
    if recipe.model.factory is None:
        raise ValueError(f"{recipe_path}: the comparison needs a recipe with model.factory")
    return {
        "name": recipe.display_name,
        "factory": recipe.model.factory,
        "folder": str(recipe.folder),
        "kwargs": recipe.model.kwargs,
        "seed": recipe.model.seed,
        "inputs": [{"name": i.name, "dtype": i.dtype, "min": list(i.min_shape), "opt": list(i.opt_shape),
                    "max": list(i.max_shape), "dim_names": {str(k): v for k, v in i.dim_names.items()}}
                   for i in recipe.compile_inputs()],
        "settings": recipe.settings.describe(),
        "out_dir": str(out_dir),
    }
