"""Weights that share memory (tied weights, folded constants that view one parameter) are written
once or copied: safetensors refuses them as they are."""

import json

import torch
from torch import nn

import trtbuild
from trtbuild.assembly.graph_io import dump_graph, load_graph
from tests.conftest import write_recipe

aten = torch.ops.aten

SHARED = '''
import torch
from torch import nn


class Shared(nn.Module):
    """In torch (torch_executed_ops): two linears tied to one weight, and two overlapping slices
    of one parameter, which lowering folds into two constants viewing the same memory."""

    def __init__(self):
        super().__init__()
        self.a = nn.Linear(8, 8)
        self.b = nn.Linear(8, 8)
        self.b.weight = self.a.weight
        self.w = nn.Parameter(torch.randn(4, 8))

    def forward(self, x):
        y = self.b(self.a(x))
        return torch.relu(y * self.w[0:2] + y * self.w[1:3])


def shared():
    return Shared()
'''


def test_a_graph_with_aliased_and_overlapping_tensors_round_trips():
    w = torch.arange(12.0).reshape(3, 4)
    holder = nn.Module()
    graph = torch.fx.Graph()
    total = graph.placeholder("x")
    for name, tensor in {"w": w, "tied": w, "top": w[0:2], "low": w[1:3]}.items():
        holder.register_buffer(name, tensor)
        total = graph.call_function(aten.add.Tensor, (total, graph.call_function(aten.sum.default,
                                                                                 (graph.get_attr(name),))))
    graph.output(total)
    gm = torch.fx.GraphModule(holder, graph)
    doc, weights = dump_graph(gm)
    assert doc["aliases"] == {"w": "tied"}  # the same view is written once; other views are copies
    restored = load_graph(json.loads(json.dumps(doc)), weights)
    assert restored.w is restored.tied and torch.equal(restored.low, w[1:3]) and torch.equal(restored.top, w[0:2])
    assert torch.equal(restored(torch.zeros(())), gm(torch.zeros(())))


def test_make_writes_a_torch_segment_whose_weights_share_memory(recipe_dir, cli):
    (recipe_dir / "shared.py").write_text(SHARED)
    write_recipe(recipe_dir, "shared", '[model]\nfactory = "shared:shared"\n[[inputs]]\nname = "x"\nshape = [2, 8]\n'
                 '[settings]\nmin_block_size = 1\ntorch_executed_ops = ["aten.linear", "aten.mul"]\n')
    made = cli("make", "--json", "--verify", "--cache-dir", str(recipe_dir / "cache"),
               "--out-dir", str(recipe_dir / "build"), str(recipe_dir / "shared.toml"))
    assert made.code == 0, made.stderr
    [r] = made.json()["recipes"]
    assert r["status"] == "built" and r["verify"]["ok"]
    assert [s["kind"] for s in r["segments"]] == ["torch", "tensorrt"]
    loaded = trtbuild.load(recipe_dir / "build" / "shared")  # the torch segment's weights, read back
    namespace = {}
    exec(SHARED, namespace)
    torch.manual_seed(0)  # the recipe's default seed
    model = namespace["shared"]().eval()
    x = torch.randn(2, 8)
    y = model.b(model.a(x))
    torch.testing.assert_close(list(loaded.torch_0(x)), [y * model.w[0:2], y * model.w[1:3]])
