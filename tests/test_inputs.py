import pytest
import torch

from trtbuild.errors import InputError
from trtbuild.inputs import Input


def test_static_shape_sets_all_three():
    spec = Input(shape=(1, 3, 8, 8), dtype=torch.float16)
    assert spec.min_shape == spec.opt_shape == spec.max_shape == (1, 3, 8, 8)
    assert spec.dtype == "float16" and not spec.is_dynamic


def test_a_static_empty_dim_is_legal():
    spec = Input(shape=(2, 0, 3))
    assert spec.min_shape == spec.max_shape == (2, 0, 3) and spec.random(spec.opt_shape).shape == (2, 0, 3)


def test_range_with_opt_equal_to_min():
    spec = Input(min_shape=(1, 3), opt_shape=(1, 3), max_shape=(8, 3))
    assert spec.is_dynamic and spec.dynamic_dims() == [0] and spec.shape is None


@pytest.mark.parametrize("kwargs, message", [
    (dict(min_shape=(4, 3), opt_shape=(4, 3), max_shape=(2, 3)), "dim 0: min 4 > max 2"),
    (dict(min_shape=(1, 3), opt_shape=(9, 3), max_shape=(8, 3)), "dim 0: opt 9 outside [min 1, max 8]"),
    (dict(min_shape=(1, 3), opt_shape=(2, 3, 1), max_shape=(8, 3)), "different ranks (2, 3, 2)"),
    (dict(shape=(1, -2, 3)), "dim 1: sizes must be positive (or 0 when static)"),
    (dict(min_shape=(0, 3), opt_shape=(2, 3), max_shape=(8, 3)), "dim 0: sizes must be positive"),
    (dict(shape=(1,), dtype="complex64"), "unknown dtype 'complex64'"),
    (dict(shape=(1,), min_shape=(1,), opt_shape=(1,), max_shape=(1,)), "not both"),
    (dict(min_shape=(1,)), "needs shape, or all of"),
])
def test_invalid_inputs_say_what_is_wrong(kwargs, message):
    with pytest.raises(InputError) as info:
        Input(name="x", **kwargs)
    assert message in str(info.value) and "'x'" in str(info.value)


def test_describe_is_json_ready_and_names_dims():
    spec = Input(min_shape=(1, 8), opt_shape=(4, 8), max_shape=(16, 8), dim_names={0: "batch"}, name="ids",
                 dtype="int64")
    assert spec.describe() == {"name": "ids", "dtype": "int64", "min": [1, 8], "opt": [4, 8], "max": [16, 8],
                               "dim_names": {"0": "batch"}}


def test_random_integers_respect_value_range():
    spec = Input(shape=(1000,), dtype="int64", value_range=(5, 7))
    data = spec.random(spec.opt_shape)
    assert data.dtype == torch.int64 and int(data.min()) >= 5 and int(data.max()) <= 6
