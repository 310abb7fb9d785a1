"""Values that parse but cannot work are refused at load, naming the file and the field, before torch.

The three faults users met first (min_shape > max_shape, a weights file that is not there, a
dimension of 20 digits) also run end to end in a fresh process, which must not import torch.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from trtbuild.errors import RecipeError
from trtbuild.recipe import load_recipe

FACTORY = 'factory = "tiny_models:convnet"\n'
X = '[[inputs]]\nname = "x"\n'


def recipe(folder: Path, text: str, model: str = FACTORY) -> Path:
    path = folder / "r.toml"
    path.write_text("[model]\n" + model + text)
    return path


def refused(path: Path) -> RecipeError:
    with pytest.raises(RecipeError) as info:
        load_recipe(path)
    return info.value


RANGES = X + "min_shape = [{a}, 3]\nopt_shape = [{b}, 3]\nmax_shape = [{c}, 3]\n"

# name: (recipe text after [model], the [model] table's lines, the field, the message)
CASES = {
    "min > max": (RANGES.format(a=8, b=8, c=1), FACTORY, "inputs[0].min_shape[0]",
                  "8 > max_shape[0] 1; expected min <= opt <= max"),
    "opt > max": (RANGES.format(a=1, b=9, c=4), FACTORY, "inputs[0].opt_shape[0]",
                  "9 outside [min 1, max 4]; expected min <= opt <= max"),
    "opt < min": (RANGES.format(a=2, b=1, c=4), FACTORY, "inputs[0].opt_shape[0]", "1 outside [min 2, max 4]"),
    "20-digit dim": (X + "shape = [12345678901234567890, 3]\n", FACTORY, "inputs[0].shape[0]",
                     "12345678901234567890 is larger than TensorRT's limit of 2147483647 per dimension"),
    "huge named dim": ('[dims]\nn = { min = 1, max = 3000000000 }\n' + X + 'shape = ["n", 3]\n', FACTORY, "dims.n.max",
                       "3000000000 is larger than TensorRT's limit of 2147483647 per dimension"),
    "too many elements": (X + "shape = [65536, 65536]\n", FACTORY, "inputs[0]",
                          "4294967296 elements at its max shape [65536, 65536]; TensorRT's limit is 2147483647 "
                          "per tensor"),
    "rank 9": (X + "shape = [1, 1, 1, 1, 1, 1, 1, 1, 1]\n", FACTORY, "inputs[0].shape",
               "rank 9; TensorRT tensors have at most 8 dims"),
    "over the data cap": (X + "shape = [1, 2000000000]\n" + X.replace('"x"', '"y"') + "shape = [1, 2000000000]\n",
                          FACTORY, "inputs[0]", "the inputs at their max shapes hold 16.0 GB (this one 8.0 GB)"),
    "range on floats": (X + "shape = [2]\nrange = [0, 10]\n", FACTORY, "inputs[0].range",
                        "applies to integer inputs only; input 'x' is float32"),
    "range of fractions": (X + 'shape = [2]\ndtype = "int32"\nrange = [0.5, 10]\n', FACTORY, "inputs[0].range",
                           "[0.5, 10.0] should hold integers"),
    "range past the dtype": (X + 'shape = [2]\ndtype = "int8"\nrange = [0, 300]\n', FACTORY, "inputs[0].range",
                             "[0, 300] does not fit int8, whose values are [-128, 128)"),
    "missing weights": (X + "shape = [2]\n", FACTORY + 'weights = "w.safetensors"\n', "model.weights", "file not found: "),
    "weights is a directory": (X + "shape = [2]\n", FACTORY + 'weights = "d"\n', "model.weights", "is a directory, not a file"),
    "weights through a dangling link": (X + "shape = [2]\n", FACTORY + 'weights = "gone"\n', "model.weights", "file not found"),
    "weights through a link loop": (X + "shape = [2]\n", FACTORY + 'weights = "loop"\n', "model.weights", "cannot read"),
    "missing program": (X + "shape = [2]\n", 'program = "m.pt2"\n', "model.program", "file not found: "),
    "sources glob matching nothing": (X + "shape = [2]\n", FACTORY + 'sources = ["src/*.py"]\n', "model.sources[0]",
                                      "'src/*.py' matches no file (looked in "),
    "fp16 with bf16": (X + 'shape = [2]\n[settings]\nenabled_precisions = ["float16", "bfloat16"]\n', FACTORY,
                       "settings.enabled_precisions", "float16 and bfloat16 together"),
    "unknown compute capability": (X + 'shape = [2]\n[target]\ncompute_capabilities = ["9.9"]\n', FACTORY,
                                   "target.compute_capabilities", "9.9 not known to the installed tensorrt_rtx"),
    "bf16 on Turing": (X + 'shape = [2]\n[settings]\nenabled_precisions = ["bfloat16"]\n'
                       '[target]\ncompute_capabilities = ["7.5", "8.6"]\n', FACTORY, "settings.enabled_precisions",
                       "bfloat16 needs compute capability 8.0 or newer; target.compute_capabilities has 7.5"),
}


def set_up(folder: Path) -> None:
    (folder / "d").mkdir()
    (folder / "gone").symlink_to(folder / "nothing-here")
    (folder / "loop").symlink_to(folder / "loop")


@pytest.mark.parametrize("name", list(CASES))
def test_a_value_that_cannot_work_is_refused_at_load(tmp_path, name):
    text, model, field, message = CASES[name]
    set_up(tmp_path)
    path = recipe(tmp_path, text, model)
    error = refused(path)
    assert (error.path, error.field) == (str(path), field)
    assert message in error.detail, error.detail


def test_every_fault_is_named_at_once(tmp_path):
    path = recipe(tmp_path, RANGES.format(a=8, b=8, c=1) + X.replace('"x"', '"y"') + "shape = [2]\nrange = [0, 1]\n",
                  FACTORY + 'weights = "w.safetensors"\n')
    error = refused(path)
    assert error.field == "inputs[0].min_shape[0]"
    assert "\n  inputs[1].range: applies to integer inputs only" in str(error)
    assert "\n  model.weights: file not found" in str(error)


def test_the_data_cap_can_be_raised(tmp_path, monkeypatch):
    path = recipe(tmp_path, X + "shape = [2, 1050000000]\n")
    assert "over its cap of 8.0 GB (set TRTBUILD_MAX_INPUT_GB to raise it)" in refused(path).detail
    monkeypatch.setenv("TRTBUILD_MAX_INPUT_GB", "10")
    assert load_recipe(path).inputs[0].shape == [2, 1050000000]


def test_a_named_dim_no_input_uses_is_a_warning(tmp_path):
    path = recipe(tmp_path, '[dims]\nn = { min = 1, max = 4 }\nseq = { min = 1, max = 9 }\n' + X + 'shape = ["n", 3]\n')
    heard: list[str] = []
    load_recipe(path, warn=heard.append)
    assert heard == [f"{path}: dims.seq: defined but no input uses it"]


def test_the_table_of_targets_matches_the_installed_tensorrt_rtx():
    trt = pytest.importorskip("tensorrt_rtx")
    from trtbuild.engine.backend import known_compute_capabilities

    members = [m for m in trt.ComputeCapability.__members__ if m.startswith("SM")]
    flavour, known = known_compute_capabilities("tensorrt_rtx")
    assert flavour == "tensorrt_rtx" and known is not None, f"add tensorrt_rtx {trt.__version__} to RTX_TARGETS"
    assert sorted(known) == sorted(f"{m[2:-1]}.{m[-1]}" for m in members)


# -- end to end: the console's entry point in a fresh process, which must not import torch --------

CHILD = """
import contextlib, io, json, sys, time
start = time.perf_counter()
from trtbuild.cli.main import main
stderr = io.StringIO()
with contextlib.redirect_stderr(stderr):
    try:
        main(sys.argv[1:])
    except SystemExit as exc:
        code = exc.code
print(json.dumps({"code": code, "stderr": stderr.getvalue(), "seconds": time.perf_counter() - start,
                  "torch": "torch" in sys.modules}))
"""

FIRST_FAULTS = ("min > max", "missing weights", "20-digit dim")


def in_fresh_process(*args: str, cwd: Path) -> dict:
    proc = subprocess.run([sys.executable, "-c", CHILD, *args], cwd=cwd, capture_output=True, text=True,
                          timeout=120, env=dict(os.environ, COLUMNS="200"))
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.splitlines()[-1])


@pytest.mark.parametrize("name", FIRST_FAULTS)
def test_the_first_faults_exit_2_naming_file_and_field_without_torch(tmp_path, name):
    text, model, field, message = CASES[name]
    path = recipe(tmp_path, text, model)
    done = in_fresh_process("make", str(path), "--out-dir", str(tmp_path / "out"), cwd=tmp_path)
    assert done["code"] == 2
    assert done["stderr"].startswith(f"error: {path}: {field}: {message}"), done["stderr"]
    assert "Traceback" not in done["stderr"] and "hint:" in done["stderr"]
    assert done["torch"] is False
    assert not (tmp_path / "out").exists()
    print(f"{name}: exit 2 in {done['seconds']:.3f} s, torch not imported")
