"""nn.LSTM / nn.GRU / nn.RNN become TensorRT loops: numerics through the CPU evaluator, a network whose
size does not grow with the sequence, and a quick fallback, with its reason, for what is not converted."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import trtbuild
from trtbuild.engine.backend import get_backend
from trtbuild.inputs import Input
from trtbuild.lowering import lower
from trtbuild.partitioning import partition
from trtbuild.conversion.interpreter import convert_segment
from trtbuild.settings import CompileSettings
from .harness import check_converted


class Recurrent(nn.Module):
    def __init__(self, cls, **kwargs):
        super().__init__()
        self.rnn = cls(8, 16, **kwargs)

    def forward(self, x):
        out, state = self.rnn(x)
        return out, sum(state) if isinstance(state, tuple) else state


@pytest.mark.parametrize("cls, kwargs, shape", [
    (nn.LSTM, dict(batch_first=True), (2, 5, 8)),
    (nn.LSTM, dict(num_layers=2, bidirectional=True, batch_first=True), (3, 7, 8)),
    (nn.GRU, dict(num_layers=2, bidirectional=True), (6, 3, 8)),
    (nn.RNN, dict(nonlinearity="relu", bias=False), (4, 2, 8)),
], ids=["lstm", "lstm-2-layers-bidirectional", "gru-2-layers-bidirectional", "rnn-relu-no-bias"])
def test_recurrent_modules_match_eager(cls, kwargs, shape):
    torch.manual_seed(0)
    ops = check_converted(Recurrent(cls, **kwargs), (torch.randn(*shape),), rtol=1e-4, atol=1e-5)
    assert {"aten.lstm.input", "aten.gru.input", "aten.rnn_relu.input"} & set(ops)


class GivenState(nn.Module):
    """An initial state computed from the input (a symbolic batch) and passed in."""

    def __init__(self):
        super().__init__()
        self.init = nn.Linear(8, 16)
        self.rnn = nn.LSTM(8, 16, batch_first=True, bidirectional=True)

    def forward(self, x):
        h = torch.tanh(self.init(x[:, 0])).unsqueeze(0)
        out, (h_n, c_n) = self.rnn(x, (torch.cat([h, h * 2]), torch.cat([h, h]) * 0.5))
        return out, h_n + c_n


def test_dynamic_batch_is_one_engine_and_matches_eager_at_each_size():
    spec = [Input(min_shape=(1, 5, 8), opt_shape=(2, 5, 8), max_shape=(4, 5, 8), name="x")]
    torch.manual_seed(0)
    model = GivenState()
    for batch in (1, 4):
        assert "aten.lstm.input" in check_converted(model, (torch.randn(batch, 5, 8),), dynamic=spec, rtol=1e-4,
                                                    atol=1e-5)


def _layers(seq: int) -> int:
    torch.manual_seed(0)
    program = torch.export.export(Recurrent(nn.LSTM, num_layers=2).eval(), (torch.randn(seq, 2, 8),))
    settings = CompileSettings(min_block_size=1)
    gm = lower(program, settings)
    part = partition(gm, settings)
    [segment] = part.segments
    return convert_segment(part.submodule(segment), get_backend(), settings).network.num_layers


def test_the_network_does_not_grow_with_the_sequence():
    """Unrolled, 300 steps would be ~10,000 layers and minutes of lowering and building."""
    assert _layers(300) == _layers(3)


def test_what_is_not_converted_stays_whole_in_torch_with_its_reason():
    model = nn.LSTM(8, 16, proj_size=4).eval()
    x = torch.randn(5, 2, 8)
    module = trtbuild.compile(torch.export.export(model, (x,)), [x], min_block_size=1)
    [(op, reason)] = [(f["op"], f["reason"]) for s in module.trtbuild_segments for f in s.fallbacks]
    assert (op, reason) == ("aten.lstm.input", "capability check failed: LSTM with proj_size is not converted")
    torch.testing.assert_close(module(x), model(x))
