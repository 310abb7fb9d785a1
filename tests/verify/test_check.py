import math

import torch

from trtbuild.inputs import Input
from trtbuild.verify.check import check_points, compare, tolerances


def test_compare_scales_error_by_the_output():
    e = torch.tensor([100.0, 0.001])
    result = compare("y", e, e + torch.tensor([0.0, 0.001]), rtol=1e-4, atol=0)
    assert math.isclose(result.max_abs, 0.001, rel_tol=1e-6) and math.isclose(result.max_rel, 1e-5, rel_tol=1e-6)
    assert result.ok


def test_compare_fails_past_tolerance_and_on_shape():
    e = torch.ones(3)
    assert not compare("y", e, e * 1.01, rtol=1e-4, atol=0).ok
    assert not compare("y", e, torch.ones(4), rtol=1, atol=1).ok


def test_compare_requires_matching_inf_and_nan():
    e = torch.tensor([float("nan"), float("inf"), 1.0])
    assert compare("y", e, e.clone(), 1e-4, 0).ok
    assert not compare("y", e, torch.tensor([0.0, float("inf"), 1.0]), 1e-4, 0).ok
    assert not compare("y", e, torch.tensor([float("nan"), float("-inf"), 1.0]), 1e-4, 0).ok
    assert not compare("y", torch.ones(2), torch.tensor([1.0, float("nan")]), 1e-4, 0).ok


def test_integer_outputs_must_match_exactly():
    e = torch.tensor([1, 2, 3])
    assert compare("y", e, e.clone(), 0, 0).ok and not compare("y", e, torch.tensor([1, 2, 4]), 1, 1).ok


def test_tolerances_default_by_precision_and_can_be_overridden():
    assert tolerances("float32") == (1e-4, 1e-5)
    assert tolerances("float16")[0] == 1e-2 and tolerances("bfloat16")[0] == 3e-2
    assert tolerances("float32", rtol=0.5) == (0.5, 1e-5)


def test_check_points_static_and_dynamic():
    static = [Input(shape=(1, 3), name="x")]
    assert [label for label, _ in check_points(static, 2, 0)] == ["opt", "sample-1"]
    dynamic = [Input(min_shape=(1, 8), opt_shape=(4, 8), max_shape=(16, 8), name="a", dim_names={0: "b"}),
               Input(min_shape=(1, 2), opt_shape=(4, 2), max_shape=(16, 2), name="c", dim_names={0: "b"})]
    points = check_points(dynamic, 3, 0)
    assert [label for label, _ in points] == ["min", "opt", "max", "random-1", "random-2", "random-3"]
    assert points[2][1] == [(16, 8), (16, 2)]
    for _, (a, c) in points:
        assert a[0] == c[0] and 1 <= a[0] <= 16  # a shared dim name takes one value per point
