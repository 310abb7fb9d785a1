"""One numeric harness for every converter: export -> lower -> partition (all TensorRT) -> build ->
reference execution of the network on the CPU, compared with eager PyTorch."""

from __future__ import annotations

from typing import Any, Callable, Sequence

import torch

from trtbuild.api import make_settings
from trtbuild.conversion.context import CapturingLogger, ConversionContext
from trtbuild.engine.backend import get_backend
from trtbuild.export.trace import as_inputs
from trtbuild.lowering import lower
from trtbuild.pipeline import Target, compile_program
from trtbuild.verify.check import compare


class Fn(torch.nn.Module):
    def __init__(self, fn: Callable, params: dict[str, torch.Tensor] | None = None):
        super().__init__()
        self.fn = fn
        for name, value in (params or {}).items():
            self.register_buffer(name, value)

    def forward(self, *args):
        return self.fn(self, *args)


def network_context(label: str) -> tuple[Any, Any]:
    """A ConversionContext on an empty network, inside a node named `label`, and the builder that owns
    the network (keep it alive while the network is used)."""
    backend = get_backend()
    logger = CapturingLogger(backend.trt)
    builder = backend.trt.Builder(logger.logger)
    ctx = ConversionContext(backend.trt, builder.create_network(0), logger, make_settings({}))
    ctx.begin_node(torch.fx.Graph().placeholder(label))
    return ctx, builder


def lowered_ops(module: torch.nn.Module, args: Sequence[torch.Tensor]) -> set[str]:
    program = torch.export.export(module.eval(), tuple(args))
    gm = lower(program, make_settings({}))
    return {str(n.target) for n in gm.graph.nodes if n.op == "call_function"}


def check_converted(module: torch.nn.Module, args: Sequence[torch.Tensor], *, rtol: float = 1e-5,
                    atol: float = 1e-6, dynamic: Sequence[Any] | None = None,
                    compute_capabilities: Sequence[str] = (), **settings: Any) -> list[str]:
    """Compile with every op in TensorRT and compare reference execution with eager; return ops converted."""
    module = module.eval()
    inputs = list(dynamic) if dynamic is not None else as_inputs(list(args))
    from trtbuild.export.trace import trace

    program = trace(module, inputs) if dynamic is not None else torch.export.export(module, tuple(args))
    settings = make_settings({"min_block_size": 1, "require_full_compilation": True, **settings})
    compiled = compile_program(program, inputs, settings, Target(get_backend(), tuple(compute_capabilities)))
    from trtbuild.assembly.runtime import set_reference

    set_reference(compiled.module)
    with torch.no_grad():
        expected = module(*args)
        actual = compiled.module(*args)
    flat_e = expected if isinstance(expected, (tuple, list)) else [expected]
    flat_a = actual if isinstance(actual, (tuple, list)) else [actual]
    assert len(flat_e) == len(flat_a)
    for k, (e, a) in enumerate(zip(flat_e, flat_a)):
        assert e.dtype == a.dtype, f"output {k}: dtype {a.dtype}, eager {e.dtype}"
        result = compare(f"output_{k}", e, a, rtol, atol)
        assert result.ok, f"output {k}: max_abs {result.max_abs:.3e} max_rel {result.max_rel:.3e}"
    return [op for seg in compiled.segments for op in seg.ops]


def check_case(case: Any) -> None:
    """A table case (fn, params, args, tol, covers) converts whole, matches eager and exercises the ops it covers."""
    converted = check_converted(Fn(case.fn, case.params), case.args, **case.tol)
    missing = set(case.covers) - set(converted)
    assert not missing, f"case does not exercise {missing}; converted: {sorted(set(converted))}"


def assert_falls_back(fn: Callable, args: Sequence[torch.Tensor], op: str, reason: str) -> None:
    """`op` of fn's lowered graph stays in torch with a reason that mentions `reason`."""
    from trtbuild.partitioning.support import fallback_reason

    settings = make_settings({})
    gm = lower(torch.export.export(Fn(lambda s, *a: fn(*a)).eval(), tuple(args)), settings)
    reasons = {str(n.target): fallback_reason(n, settings) for n in gm.graph.nodes if n.op == "call_function"}
    assert op in reasons, sorted(reasons)
    assert reason in (reasons[op] or ""), reasons[op]
