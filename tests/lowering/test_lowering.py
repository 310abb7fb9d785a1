import torch
from torch import nn

from trtbuild.lowering import lower
from trtbuild.lowering.fold import fold_constants
from trtbuild.lowering.passes import remove_noops, split_shared_constants
from trtbuild.settings import CompileSettings

aten = torch.ops.aten


def targets(gm):
    return [n.target for n in gm.graph.nodes if n.op == "call_function"]


def lowered(model, *args):
    return lower(torch.export.export(model.eval(), args), CompileSettings())


def test_ops_we_convert_stay_whole():
    class M(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(4, 4)

        def forward(self, x):
            return nn.functional.gelu(self.fc(x))

    ops = targets(lowered(M(), torch.randn(2, 4)))
    assert aten.linear.default in ops and aten.gelu.default in ops
    assert aten.addmm.default not in ops and aten.erf.default not in ops


def test_dropout_and_clone_are_removed():
    class M(nn.Module):
        def forward(self, x):
            return nn.functional.dropout(x.clone(), 0.5, training=False) + 1

    ops = targets(lowered(M(), torch.randn(3)))
    assert ops == [aten.add.Tensor]


def test_parameters_become_constants():
    gm = lowered(nn.Linear(4, 2), torch.randn(1, 4))
    attrs = [n for n in gm.graph.nodes if n.op == "get_attr"]
    assert {n.meta["weight_name"] for n in attrs} == {"weight", "bias"}
    assert len([n for n in gm.graph.nodes if n.op == "placeholder"]) == 1


def test_weight_only_subgraph_is_folded():
    class M(nn.Module):
        def __init__(self):
            super().__init__()
            self.w = nn.Parameter(torch.randn(4, 3))

        def forward(self, x):
            return x @ (self.w.t() * 2)

    model = M().eval()
    gm = lower(torch.export.export(model, (torch.randn(2, 3),)), CompileSettings())
    assert aten.permute.default not in targets(gm) and aten.mul.Tensor not in targets(gm)
    x = torch.randn(2, 3)
    assert torch.allclose(gm(x)[0], model(x))


def test_fold_keeps_results_equal():
    graph = torch.fx.Graph()
    x = graph.placeholder("x")
    w = graph.get_attr("w")
    t = graph.call_function(aten.t.default, (w,))
    graph.output(graph.call_function(aten.mm.default, (x, t)))
    root = nn.Module()
    root.register_buffer("w", torch.randn(5, 3))
    gm = torch.fx.GraphModule(root, graph)
    for node in gm.graph.nodes:
        if node.op == "get_attr":
            node.meta["val"] = root.w
        if node.target is aten.t.default:
            node.meta["val"] = root.w.t()
    x_val = torch.randn(2, 3)
    expected = gm(x_val)
    folded = fold_constants(gm)
    folded.recompile()
    assert aten.t.default not in targets(folded)
    assert torch.equal(folded(x_val), expected)


def test_split_shared_constants_gives_each_user_its_own_node():
    graph = torch.fx.Graph()
    w = graph.get_attr("w")
    a = graph.call_function(aten.relu.default, (w,))
    b = graph.call_function(aten.neg.default, (w,))
    graph.output((a, b))
    root = nn.Module()
    root.register_buffer("w", torch.randn(3))
    gm = split_shared_constants(torch.fx.GraphModule(root, graph))
    attrs = [n for n in gm.graph.nodes if n.op == "get_attr"]
    assert len(attrs) == 2 and all(len(n.users) == 1 for n in attrs)


def test_remove_noops_keeps_real_views():
    class M(nn.Module):
        def forward(self, x):
            return x.view(2, 6) + 0

    ops = targets(remove_noops(lowered(M(), torch.randn(3, 4))))
    assert aten.view.default in ops or aten._unsafe_view.default in ops


def test_fold_constants_views_a_permuted_weight():
    # remove_noops drops the clone that made the permuted weight contiguous (swin's relative position bias)
    class M(nn.Module):
        def __init__(self):
            super().__init__()
            self.table = nn.Parameter(torch.randn(4, 6))

        def forward(self, x):
            return x + self.table.permute(1, 0).contiguous().view(24)

    model, x = M(), torch.randn(24)
    gm = lowered(model, x)
    assert targets(gm) == [aten.add.Tensor]
    torch.testing.assert_close(gm(x)[0], model(x))
