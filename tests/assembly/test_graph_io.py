import json
import operator

import pytest
import torch

from trtbuild.assembly.artifacts import ArtifactError, load
from trtbuild.assembly.graph_io import GraphFormatError, dump_graph, load_graph
from trtbuild.lowering import lower
from trtbuild.settings import CompileSettings
from tests.fixtures.tiny_models import WithUnsupported

aten = torch.ops.aten


def lowered_model():
    torch.manual_seed(0)
    model = WithUnsupported().eval()
    return model, lower(torch.export.export(model, (torch.randn(2, 8),)), CompileSettings())


def test_round_trip_computes_the_same():
    model, gm = lowered_model()
    doc, weights = dump_graph(gm)
    json.dumps(doc)  # plain JSON
    restored = load_graph(json.loads(json.dumps(doc)), weights)
    x = torch.randn(2, 8)
    assert torch.equal(restored(x)[0], gm(x)[0]) and torch.allclose(restored(x)[0], model(x))


def test_only_torch_ops_can_be_called():
    _, gm = lowered_model()
    doc, weights = dump_graph(gm)
    node = next(n for n in doc["nodes"] if n["op"] == "call_function" and n["target"].startswith("aten."))
    node["target"] = "os.system"
    with pytest.raises(GraphFormatError, match="unknown op 'os.system'"):
        load_graph(doc, weights)


def test_arbitrary_callables_are_not_serialized():
    graph = torch.fx.Graph()
    x = graph.placeholder("x")
    graph.output(graph.call_function(print, (x,)))
    with pytest.raises(GraphFormatError, match="only torch ops are allowed"):
        dump_graph(torch.fx.GraphModule(torch.nn.Module(), graph))


def test_load_refuses_a_corrupt_engine_file(recipe_dir):
    from tests.conftest import run_cli, write_recipe

    write_recipe(recipe_dir, "tiny", '[model]\nfactory = "tiny_models:convnet"\n[[inputs]]\nname = "x"\n'
                 'shape = [1, 3, 7, 7]\n')
    assert run_cli("make", "tiny.toml", cwd=recipe_dir).returncode == 0
    out = recipe_dir / "build" / "tiny"
    [engine] = (out / "engines").glob("*.plan")
    data = bytearray(engine.read_bytes())
    data[len(data) // 2] ^= 0xFF
    engine.write_bytes(bytes(data))
    with pytest.raises(ArtifactError, match="is corrupt: its SHA-256 does not match the manifest"):
        load(out)


def test_getitem_survives():
    graph = torch.fx.Graph()
    x = graph.placeholder("x")
    pair = graph.call_function(aten.max.dim, (x, 1))
    graph.output(graph.call_function(operator.getitem, (pair, 1)))
    gm = torch.fx.GraphModule(torch.nn.Module(), graph)
    restored = load_graph(*dump_graph(gm))
    t = torch.randn(3, 4)
    assert torch.equal(restored(t), t.argmax(1))
