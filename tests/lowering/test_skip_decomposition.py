"""Lowering skips torch.export's re-trace (`run_decompositions`) when the exported graph already has
only ops we convert; it must still take the full path whenever a decomposition could matter."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from trtbuild.inputs import Input
from trtbuild.lowering.inplace import needs_decomposition

from ..conversion.harness import Fn, check_converted


@pytest.fixture
def retraces(monkeypatch) -> list[int]:
    calls: list[int] = []
    real = torch.export.ExportedProgram.run_decompositions

    def counted(self, *args, **kwargs):
        calls.append(1)
        return real(self, *args, **kwargs)

    monkeypatch.setattr(torch.export.ExportedProgram, "run_decompositions", counted)
    return calls


class Head(torch.nn.Module):
    """What mnasnet, mobilenet_v3, shufflenet and vit end with: eval-mode dropout in place (on a
    view, as efficientnet does), chunk and unflatten."""

    def __init__(self):
        super().__init__()
        self.fc = torch.nn.Linear(8, 6)
        self.drop = torch.nn.Dropout(0.3, inplace=True)

    def forward(self, x):
        a, b = x.chunk(2, dim=1)
        y = torch.cat([b, a], 1).unflatten(1, (2, -1)).transpose(1, 2).flatten(1)
        return self.fc(self.drop(F.relu(y).flatten(1)))


def test_dropout_in_place_chunk_and_unflatten_convert_without_a_retrace(retraces):
    ops = check_converted(Head(), (torch.randn(3, 8),))
    assert retraces == []
    assert {"aten.chunk.default", "aten.unflatten.int"} <= set(ops)
    assert not any("dropout" in op for op in ops)


def test_unflatten_keeps_a_dynamic_batch(retraces):
    spec = [Input(min_shape=(1, 8), opt_shape=(3, 8), max_shape=(6, 8), name="x")]
    for batch in (1, 5):
        check_converted(Head(), (torch.randn(batch, 8),), dynamic=spec)
    assert retraces == []


def test_dropout_in_training_mode_is_not_a_noop():
    program = torch.export.export(Fn(lambda s, x: F.dropout(x, 0.5, training=True)), (torch.randn(4),))
    assert needs_decomposition(program)


def test_an_op_without_a_converter_still_takes_the_full_path(retraces):
    ops = check_converted(Fn(lambda s, x: F.hardtanh(x, -0.5, 0.5) + torch.logit(x.sigmoid(), 1e-3)),
                          (torch.randn(3, 4),))
    assert retraces == [1] and ops


def test_new_zeros_of_static_size_folds_into_a_constant():
    """x.new_zeros(size) reads only x's dtype: a mask built from it (as swin_t builds its shifted-window
    mask) is computed once at build time, not in the engine."""
    from trtbuild.lowering import lower
    from trtbuild.settings import CompileSettings

    def masked(s, x):
        mask = x.new_zeros((4, 5))
        mask[1:3, 2:] = 1.0
        return x + mask.new_ones((4, 5)) * mask

    program = torch.export.export(Fn(masked), (torch.randn(4, 5),))
    gm = lower(program, CompileSettings())
    ops = [str(n.target) for n in gm.graph.nodes if n.op == "call_function"]
    assert not any("new_" in op or "fill" in op for op in ops), ops
    check_converted(Fn(masked), (torch.randn(4, 5),))


def window_mask(s, x):
    """swin_t's shifted-window mask: a tensor built from constants alone, written through views."""
    mask = x.new_zeros((6, 6))
    count = 0
    for h in (slice(0, -3), slice(-3, -1), slice(-1, None)):
        for w in (slice(0, -3), slice(-3, None)):
            mask[h, w] = count
            count += 1
    windows = mask.view(2, 3, 2, 3).permute(0, 2, 1, 3).reshape(4, 9)
    diff = windows.unsqueeze(1) - windows.unsqueeze(2)
    return x + diff.masked_fill(diff != 0, -100.0).masked_fill(diff == 0, 0.0)


def test_writes_into_a_tensor_built_from_constants_fold_without_a_retrace(retraces):
    ops = check_converted(Fn(window_mask), (torch.randn(4, 9, 9),))
    assert retraces == []
    assert ops == ["aten.add.Tensor"]  # the mask, writes and all, is one constant


def test_a_constant_read_before_a_write_sees_the_old_value(retraces):
    def total_then_write(s, x):
        mask = x.new_zeros((4,))
        total = mask.sum() + 2  # 2, computed before the write
        mask[:2] = 1.0
        return x * total + mask

    check_converted(Fn(total_then_write), (torch.randn(3, 4),))
    assert retraces == []


@pytest.mark.parametrize("reader", ["engine", "clone"])
def test_a_write_after_a_reader_that_is_not_folded_takes_the_full_path(retraces, reader):
    """Folding would give such a reader the tensor's final value: only functionalization is exact."""
    def read_then_write(s, x):
        mask = x.new_zeros((4,))
        before = x + mask if reader == "engine" else mask.clone()  # lowering drops a clone as a no-op
        mask[:2] = 1.0
        return x * 2 + before * 3 + mask

    check_converted(Fn(read_then_write), (torch.randn(3, 4),))
    assert retraces == [1]
