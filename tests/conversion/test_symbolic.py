"""Symbolic sizes: sym_size and python arithmetic on sizes become INT64 shape tensors."""

import operator

import pytest

import torch
import torch.nn.functional as F

import trtbuild
from trtbuild.conversion.registry import lookup
from trtbuild.inputs import Input
from trtbuild.verify.evaluator import evaluate
from .harness import Fn, check_converted, network_context

# Read by test_ops.test_every_converter_has_a_numeric_test.
COVERS = ("aten.sym_size.int", str(operator.add), str(operator.sub), str(operator.mul), str(operator.floordiv),
          str(operator.neg), str(operator.mod), "aten.arange.default", "aten.arange.start", "aten.arange.start_step",
          "aten.full.default", "aten.empty.memory_format", "aten.new_ones.default", "aten.new_zeros.default")


def test_view_with_a_symbolic_batch_matches_eager_at_several_sizes():
    spec = [Input(min_shape=(1, 4, 6), opt_shape=(3, 4, 6), max_shape=(8, 4, 6), name="x")]
    module = Fn(lambda s, x: x.view(x.shape[0] * 2, -1) * 2)
    for batch in (1, 3, 8):
        ops = check_converted(module, (torch.randn(batch, 4, 6),), dynamic=spec)
        assert {"aten.sym_size.int", str(operator.mul), "aten.view.default"} <= set(ops)


def test_size_arithmetic_evaluates_to_python_arithmetic():
    ctx, _builder = network_context("size_math")
    x = ctx.network.add_input("x", ctx.trt.DataType.FLOAT, (-1, 4))
    size = lookup(torch.ops.aten.sym_size.int).fn(ctx, ctx.node, input=x, dim=0)
    results = {
        "add": lookup(operator.add).fn(ctx, ctx.node, size, 3),
        "sub": lookup(operator.sub).fn(ctx, ctx.node, 10, size),
        "mul": lookup(operator.mul).fn(ctx, ctx.node, size, size),
        "floordiv": lookup(operator.floordiv).fn(ctx, ctx.node, size, 2),
        "neg": lookup(operator.neg).fn(ctx, ctx.node, size),
        "mod": lookup(operator.mod).fn(ctx, ctx.node, 10, size),
        "mod_negative": lookup(operator.mod).fn(ctx, ctx.node, lookup(operator.neg).fn(ctx, ctx.node, size), 3),
    }
    for name, tensor in results.items():
        tensor.name = name
        ctx.network.mark_output(tensor)
    ctx.end_node()
    for batch in (1, 5, 8):
        out = evaluate(ctx.network, {"x": torch.zeros(batch, 4)}, trt=ctx.trt)
        assert {k: int(v) for k, v in out.items()} == {"add": batch + 3, "sub": 10 - batch, "mul": batch * batch,
                                                        "floordiv": batch // 2, "neg": -batch, "mod": 10 % batch,
                                                        "mod_negative": -batch % 3}
        assert all(v.dtype == torch.int64 for v in out.values())


BATCH_SEQ = [Input(min_shape=(1, 3, 4), opt_shape=(2, 5, 4), max_shape=(4, 9, 4), name="x",
                   dim_names={0: "batch", 1: "seq"})]
DYNAMIC_CASES = {
    "slice-to-symbolic-end": lambda s, x: x[:, : x.shape[1] - 1] * 2,
    "arange-of-symbolic-length": lambda s, x: (x + torch.arange(x.shape[1]).unsqueeze(-1)
                                               + torch.arange(1, x.shape[1] + 1).unsqueeze(-1)
                                               + torch.arange(0, 2 * x.shape[1], 2).unsqueeze(-1)),
    "expand-to-symbolic-sizes": lambda s, x: x[:, :1].expand(x.shape[0], x.shape[1], 4) + x,
    "unsqueeze-squeeze": lambda s, x: x.unsqueeze(1).squeeze(1) * 3,
    "gather-with-symbolic-index": lambda s, x: torch.gather(x, 2, (x > 0).long()),
    "index-with-broadcast-indices": lambda s, x: x[torch.arange(x.shape[0]).unsqueeze(1), torch.arange(x.shape[1])],
    "split-along-static-dim": lambda s, x: torch.split(x, 3, dim=2)[1] + 1,
    "slice-with-negative-bounds": lambda s, x: x[:, -(x.shape[1] - 1):] + x[:, -2:].sum(1, keepdim=True),
    "diff-along-a-dynamic-dim": lambda s, x: x.diff(dim=1).sum(1) + (x > 0).diff(dim=0, prepend=x[:1] > 1).sum((0, 1)),
    "chunk-and-unflatten-with-dynamic-dims": lambda s, x: x.chunk(3, 2)[1].unflatten(1, (1, -1)).sum(1) * 2,
    # with static sizes lowering folds them (tests/lowering/test_skip_decomposition.py)
    "new-ones-zeros-of-symbolic-sizes": lambda s, x: x + x.new_ones((x.shape[0], x.shape[1], 1))
    + x.new_zeros(x.shape[0], 1, 4, dtype=torch.int32),
    "full-of-symbolic-sizes": lambda s, x: x + torch.full((x.shape[0], x.shape[1], 1), 0.5),
    "pads-of-dynamic-dims": lambda s, x: (F.pad(x, (1, 2, 0, 1), value=-1.5)[:, 1:, 1:3]
                                          + F.pad(x, (2, 1), mode="reflect")[:, :, 1:3]
                                          + F.pad(x, (2, 1, 1, 0), mode="replicate")[:, :-1, 1:3]
                                          + torch.ops.aten._pad_circular.default(x, [1, 2, 1, 0])[:, :-1, 1:3]),
}


@pytest.mark.parametrize("name", sorted(DYNAMIC_CASES))
def test_shape_ops_with_dynamic_sizes(name):
    module = Fn(DYNAMIC_CASES[name])
    converted = set()
    for batch, seq in ((1, 3), (2, 5), (4, 9), (3, 7)):
        converted |= set(check_converted(module, (torch.randn(batch, seq, 4),), dynamic=BATCH_SEQ))
    if name.startswith("arange"):
        assert {"aten.arange.default", "aten.arange.start", "aten.arange.start_step"} <= converted
    if name.startswith("new-ones"):
        assert {"aten.new_ones.default", "aten.new_zeros.default"} <= converted


def test_a_model_returning_a_size_gets_an_int_from_the_engine():
    class SizeAndTensor(torch.nn.Module):
        def forward(self, x):
            return x * 2, torch.ops.aten.sym_numel.default(x)

    spec = [Input(min_shape=(1, 4), opt_shape=(3, 4), max_shape=(6, 8), name="x")]
    module = trtbuild.compile(trtbuild.trace(SizeAndTensor(), spec), spec, min_block_size=1,
                              require_full_compilation=True)
    trtbuild.set_reference(module)
    for shape in ((1, 4), (5, 7)):
        doubled, numel = module(torch.ones(shape))
        assert numel == shape[0] * shape[1] and type(numel) is int
        assert torch.equal(doubled, torch.full(shape, 2.0))


def test_empty_of_a_symbolic_size_has_the_eager_shape_and_dtype():
    empty = Fn(lambda s, x: torch.ops.aten.empty.memory_format([x.shape[0], 3], dtype=torch.float16))
    spec = [Input(min_shape=(1, 4), opt_shape=(3, 4), max_shape=(6, 4), name="x")]
    module = trtbuild.compile(trtbuild.trace(empty, spec), spec, min_block_size=1, require_full_compilation=True)
    trtbuild.set_reference(module)
    out = module(torch.ones(5, 4))
    assert out.shape == (5, 3) and out.dtype == torch.float16
