import json
import subprocess
import sys

import torch

from trtbuild.cache.key import key_of, recipe_key_doc
from trtbuild.engine.backend import get_backend
from trtbuild.inputs import Input
from trtbuild.settings import CompileSettings
from tests.fixtures.tiny_models import ConvNet

INPUTS = [Input(shape=(1, 3, 7, 7), name="x")]
TARGET = {"compute_capabilities": ["default"]}


def key(model, settings=None, inputs=INPUTS):
    program = torch.export.export(model.eval(), (torch.randn(1, 3, 7, 7),))
    return key_of(recipe_key_doc(program, inputs, settings or CompileSettings(), get_backend(), TARGET))


def seeded():
    torch.manual_seed(0)
    return ConvNet()


def test_one_weight_value_changes_the_key():
    model = seeded()
    before = key(model)
    with torch.no_grad():
        model.fc.bias[0] += 1e-3
    assert key(model) != before


def test_a_setting_that_matters_changes_the_key():
    model = seeded()
    assert key(model, CompileSettings(min_block_size=3)) != key(model, CompileSettings(min_block_size=5))
    assert key(model, CompileSettings(enabled_precisions=["float16"])) != key(model)


def test_input_ranges_change_the_key():
    model = seeded()
    dynamic = [Input(min_shape=(1, 3, 7, 7), opt_shape=(1, 3, 7, 7), max_shape=(4, 3, 7, 7), name="x")]
    assert key(model, inputs=dynamic) != key(model)


def test_key_document_is_printable_and_names_weights():
    program = torch.export.export(seeded().eval(), (torch.randn(1, 3, 7, 7),))
    doc = recipe_key_doc(program, INPUTS, CompileSettings(), get_backend(), TARGET)
    json.dumps(doc)
    assert set(doc["weight_digests"]) >= {"conv.weight", "fc.bias", "bn.running_mean"}
    assert doc["backend"]["flavour"] in ("tensorrt", "tensorrt_rtx") and doc["settings"]["min_block_size"] == 5


SCRIPT = """
import torch
from tests.cache.test_key import key, seeded
print(key(seeded()))
"""


def test_unchanged_model_has_the_same_key_across_processes():
    keys = {subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, check=True,
                           cwd=str(__import__("tests").__path__[0] + "/..")).stdout.strip() for _ in range(2)}
    assert len(keys) == 1 and key(seeded()) in keys


SEGMENT_KEYS = """
import torch
from trtbuild.engine.backend import get_backend
from trtbuild.export.trace import as_inputs
from trtbuild.pipeline import Target, compile_program
from trtbuild.settings import CompileSettings
from tests.fixtures.tiny_models import Branchy
torch.manual_seed(0)
x = torch.randn(1, 3, 8, 8)
program = torch.export.export(Branchy().eval(), (x,))
compiled = compile_program(program, as_inputs([x]), CompileSettings(min_block_size=1), Target(get_backend()))
print([s.key for s in compiled.segments])
"""


def test_segment_keys_do_not_depend_on_hash_seed():
    import os

    root = str(__import__("tests").__path__[0] + "/..")
    keys = {subprocess.run([sys.executable, "-c", SEGMENT_KEYS], capture_output=True, text=True, check=True,
                           cwd=root, env=dict(os.environ, PYTHONHASHSEED=seed)).stdout.strip()
            for seed in ("1", "2", "3")}
    assert len(keys) == 1
