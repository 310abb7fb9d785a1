"""Mixed precision the way autocast does it, written into the graph as explicit casts.

TensorRT-RTX builds strongly typed networks: precision is not a builder flag but the dtypes of the
network we emit. With float16 or bfloat16 in `enabled_precisions`, this pass makes the network run
in the lowest enabled float type:
  LOW     compute-bound ops run in the low type; their weights are stored in it.
  FLOAT32 numerically sensitive ops (softmax, normalisation statistics, large reductions,
          exp/log/pow, loss-like ops) run in float32, with casts at their boundaries.
  FOLLOW  everything else (elementwise, data movement) runs in the widest float type of its
          non-weight inputs, as autocast's "promote" ops do.
Ops with no converter stay float32 (they run in torch, where CPU half support is patchy). Model
inputs and outputs keep their dtypes. `precision_exclude_ops` forces ops (by op name, e.g.
"aten.gelu" or "aten.gelu.default") or nodes (by FX node name) to float32.
"""

from __future__ import annotations

import operator
from typing import Any

import torch
import torch.fx

from ..conversion.registry import lookup
from ..settings import CompileSettings, op_name

aten = torch.ops.aten

LOW, FLOAT32, FOLLOW = "low", "float32", "follow"

# The policy table, by op (overload packet). Ops not listed FOLLOW their inputs.
POLICY: dict[str, str] = {
    **dict.fromkeys([
        "aten.convolution", "aten.linear", "aten.addmm", "aten.mm", "aten.bmm", "aten.matmul", "aten.baddbmm",
        "aten.scaled_dot_product_attention", "aten.embedding", "aten._native_batch_norm_legit_no_training",
        "aten.relu", "aten.gelu", "aten.silu", "aten.sigmoid", "aten.tanh", "aten.hardtanh", "aten.hardswish",
        "aten.hardsigmoid", "aten.leaky_relu", "aten.elu", "aten.max_pool2d", "aten.max_pool2d_with_indices",
        "aten.avg_pool2d", "aten.adaptive_avg_pool2d", "aten._adaptive_avg_pool2d",
        "aten._scaled_dot_product_efficient_attention", "aten.max_pool3d", "aten.max_pool3d_with_indices",
        "aten.avg_pool3d", "aten.adaptive_avg_pool3d", "aten._adaptive_avg_pool3d",
    ], LOW),
    **dict.fromkeys([
        "aten._softmax", "aten.softmax", "aten._log_softmax", "aten.log_softmax", "aten.layer_norm",
        "aten.native_layer_norm", "aten.group_norm", "aten.native_group_norm", "aten.rms_norm",
        "aten.mean", "aten.sum", "aten.prod", "aten.var", "aten.std", "aten.var_mean", "aten.norm",
        "aten.linalg_vector_norm", "aten.cumsum", "aten.exp", "aten.log", "aten.log1p", "aten.expm1",
        "aten.pow", "aten.rsqrt", "aten.reciprocal", "aten.erf", "aten.cross_entropy_loss", "aten.nll_loss",
        "aten.mse_loss", "aten.kl_div", "aten.binary_cross_entropy", "aten.softplus", "aten._cdist_forward",
        "aten._pdist_forward",
        "aten.lstm", "aten.gru", "aten.rnn_tanh", "aten.rnn_relu",  # errors compound over the time steps
    ], FLOAT32),
}
FLOATS = (torch.float32, torch.float16, torch.bfloat16)


def policy_of(node: torch.fx.Node, settings: CompileSettings) -> str:
    name = op_name(node.target)
    packet = name.rsplit(".", 1)[0]
    excluded = settings.precision_exclude_ops
    if node.name in excluded or name in excluded or packet in excluded:
        return FLOAT32
    if isinstance(node.target, torch._ops.OpOverload) and lookup(node.target) is None:
        return FLOAT32
    return POLICY.get(packet, FOLLOW)


def _dtype(node: Any) -> torch.dtype | None:
    val = node.meta.get("val") if isinstance(node, torch.fx.Node) else None
    return val.dtype if isinstance(val, torch.Tensor) else None


def _is_float(node: Any) -> bool:
    return _dtype(node) in FLOATS


def _fixes_its_dtype(node: torch.fx.Node) -> bool:
    """Ops whose output dtype is an argument (casts, dtype= reductions) keep it."""
    return node.target is aten._to_copy.default or node.kwargs.get("dtype") is not None


def apply_precision(gm: torch.fx.GraphModule, settings: CompileSettings) -> torch.fx.GraphModule:
    low = getattr(torch, settings.lowest_float())
    if low == torch.float32:
        return gm
    casts: dict[tuple[torch.fx.Node, torch.dtype], torch.fx.Node] = {}
    output = next(n for n in gm.graph.nodes if n.op == "output")
    original = output.meta["trtbuild_dtypes"]
    for node in list(gm.graph.nodes):
        if node.op == "call_function" and node.target is not operator.getitem and not _fixes_its_dtype(node):
            _retype(gm, node, low, settings, casts)
    _restore_outputs(gm, output, original, casts)
    gm.graph.eliminate_dead_code()  # the float32 copies of converted weights
    _drop_unused_buffers(gm)
    gm.graph.lint()
    gm.recompile()
    return gm


def _retype(gm, node, low, settings, casts) -> None:
    inputs = [n for n in node.all_input_nodes if _is_float(n)]
    if not inputs:
        return
    policy = policy_of(node, settings)
    if policy == LOW:
        want = low
    elif policy == FLOAT32:
        want = torch.float32
    else:
        computed = [_dtype(n) for n in inputs if n.op != "get_attr"] or [low]
        want = max(computed, key=lambda d: (d == torch.float32, d == torch.bfloat16))
    for arg in inputs:
        if _dtype(arg) != want:
            node.replace_input_with(arg, _cast(gm, arg, want, node, casts))
    _set_output_dtype(node, want)


def _cast(gm, arg, dtype, before, casts) -> torch.fx.Node:
    if (arg, dtype) in casts:
        return casts[(arg, dtype)]
    if arg.op == "get_attr":  # a weight: store it in the new type rather than casting at run time
        tensor = operator.attrgetter(arg.target)(gm)
        name = f"{arg.target.replace('.', '_')}_{str(dtype).removeprefix('torch.')}"
        if not hasattr(gm, name):
            gm.register_buffer(name, tensor.to(dtype), persistent=False)
        with gm.graph.inserting_before(before):
            new = gm.graph.get_attr(name)
    else:
        with gm.graph.inserting_after(arg):
            new = gm.graph.call_function(aten._to_copy.default, (arg,), {"dtype": dtype})
    new.meta = dict(arg.meta)
    new.meta["val"] = arg.meta["val"].to(dtype)
    casts[(arg, dtype)] = new
    return new


def _set_output_dtype(node: torch.fx.Node, dtype: torch.dtype) -> None:
    val = node.meta.get("val")

    def retyped(v):
        return v.to(dtype) if isinstance(v, torch.Tensor) and v.dtype in FLOATS else v

    if isinstance(val, (tuple, list)):
        node.meta["val"] = type(val)(retyped(v) for v in val)
        for user in node.users:  # getitem nodes carry their own copy of the element's meta
            if user.target is operator.getitem and isinstance(user.meta.get("val"), torch.Tensor):
                user.meta["val"] = retyped(user.meta["val"])
    else:
        node.meta["val"] = retyped(val)


def _flat(results: Any) -> list:
    return list(results) if isinstance(results, (tuple, list)) else [results]


def _restore_outputs(gm, output: torch.fx.Node, original: list, casts) -> None:
    """Model outputs keep the dtype the eager model returns."""
    for item, want in zip(_flat(output.args[0]), original):
        if isinstance(item, torch.fx.Node) and _is_float(item) and _dtype(item) != want:
            output.replace_input_with(item, _cast(gm, item, want, output, casts))


def _drop_unused_buffers(gm: torch.fx.GraphModule) -> None:
    used = {n.target for n in gm.graph.nodes if n.op == "get_attr"}
    for name in [name for name, _ in gm.named_buffers(recurse=False) if name not in used]:
        delattr(gm, name)
