"""`TRTEngineModule`: runs one serialized TensorRT engine inside a torch.fx.GraphModule.

GPU execution: the engine is deserialized lazily on first call, on the current CUDA device, and
runs with `execute_async_v3` on the caller's current stream, binding torch tensors by address.
This path is written against the TensorRT runtime API but is NOT exercised on our CPU-only CI.

Reference execution (`reference=True`): the segment's lowered FX graph is converted to a network
again and evaluated layer by layer on the CPU (trtbuild.verify.evaluator). It checks the whole
pipeline against eager PyTorch without a GPU; it is slow and meant for verification only.
"""

from __future__ import annotations

from typing import Any

import torch

from ..dtypes import to_torch
from ..engine.backend import get_backend


class TRTEngineModule(torch.nn.Module):
    def __init__(self, plan: bytes, inputs: list[dict], outputs: list[dict], *, flavour: str,
                 compute_capabilities: list[str], key: str, profiles: list[dict] | None = None,
                 segment: torch.fx.GraphModule | None = None, settings: Any = None):
        super().__init__()
        self.plan = plan
        self.input_specs, self.output_specs = inputs, outputs
        self.flavour, self.compute_capabilities, self.key = flavour, list(compute_capabilities), key
        self.segment, self.settings = segment, settings
        self.profiles = profiles or []  # [{input name: [min, opt, max]}]; empty when every input is static
        self.reference = False
        self._engine = self._context = None

    def extra_repr(self) -> str:
        return f"key={self.key[:12]}, engine_bytes={len(self.plan)}, flavour={self.flavour}"

    def forward(self, *args: torch.Tensor) -> tuple[torch.Tensor | int, ...]:
        if len(args) != len(self.input_specs):
            raise ValueError(f"engine {self.key[:12]} takes {len(self.input_specs)} inputs, got {len(args)}")
        self._check_shapes(args)
        outputs = self._run_reference(args) if self.reference else self._run_engine(args)
        # a symbolic size the model returns is a python int in the graph, a 0-d tensor in the engine
        return tuple(int(out) if spec.get("size") else out for spec, out in zip(self.output_specs, outputs))

    def _check_shapes(self, args: tuple[torch.Tensor, ...]) -> None:
        """Refuse shapes the engine was not built for, before TensorRT sees them."""
        for spec, arg in zip(self.input_specs, args):
            shape = tuple(arg.shape)
            ranges = [p[spec["name"]] for p in self.profiles if spec["name"] in p]
            if ranges:
                fits = any(len(shape) == len(lo) and all(a <= d <= b for a, d, b in zip(lo, shape, hi))
                           for lo, _, hi in ranges)
                allowed = " or ".join(f"{tuple(lo)}..{tuple(hi)}" for lo, _, hi in ranges)
            else:
                expected = tuple(spec["shape"])
                fits = len(shape) == len(expected) and all(e in (-1, d) for e, d in zip(expected, shape))
                allowed = str(expected)
            if not fits:
                raise ValueError(f"engine {self.key[:12]} input {spec['name']}: shape {shape} is outside the "
                                 f"shapes it was built for ({allowed})")

    # -- GPU execution ----------------------------------------------------------------------
    def _load(self) -> None:
        backend = get_backend(self.flavour)
        backend.check_runnable(self.compute_capabilities)
        trt = backend.trt
        self._logger = trt.Logger(trt.Logger.WARNING)
        runtime = trt.Runtime(self._logger)
        self._engine = runtime.deserialize_cuda_engine(self.plan)
        if self._engine is None:
            raise RuntimeError(f"TensorRT could not deserialize engine {self.key[:12]} on this device")
        self._context = self._engine.create_execution_context()
        self._runtime = runtime

    def _run_engine(self, args: tuple[torch.Tensor, ...]) -> tuple[torch.Tensor, ...]:
        if self._context is None:
            self._load()
        device = torch.device("cuda", torch.cuda.current_device())
        keep = []
        for spec, arg in zip(self.input_specs, args):
            tensor = arg.to(device=device, dtype=to_torch(spec["dtype"])).contiguous()
            keep.append(tensor)
            if not self._context.set_input_shape(spec["name"], tuple(tensor.shape)):
                raise ValueError(f"input {spec['name']} shape {tuple(tensor.shape)} is outside the engine's profile")
            self._context.set_tensor_address(spec["name"], tensor.data_ptr())
        outputs = []
        host = get_backend(self.flavour).trt.TensorLocation.HOST
        for spec in self.output_specs:
            shape = tuple(self._context.get_tensor_shape(spec["name"]))
            on_host = self._engine.get_tensor_location(spec["name"]) == host  # shape-tensor outputs live on the host
            out = torch.empty(shape, dtype=to_torch(spec["dtype"]), device="cpu" if on_host else device)
            self._context.set_tensor_address(spec["name"], out.data_ptr())
            outputs.append(out)
        stream = torch.cuda.current_stream(device)
        if not self._context.execute_async_v3(stream.cuda_stream):
            raise RuntimeError(f"TensorRT failed to execute engine {self.key[:12]}")
        for tensor in keep:  # inputs must stay alive until the stream has consumed them
            tensor.record_stream(stream)
        return tuple(outputs)

    # -- reference execution on the CPU ------------------------------------------------------
    def _run_reference(self, args: tuple[torch.Tensor, ...]) -> tuple[torch.Tensor, ...]:
        if self.segment is None:
            raise RuntimeError(f"engine {self.key[:12]} has no segment graph for reference execution "
                               "(modules loaded from a build directory carry engines only)")
        from ..conversion.interpreter import convert_segment
        from ..verify.evaluator import evaluate

        net = convert_segment(self.segment, get_backend(self.flavour), self.settings)
        feeds = {spec.name: arg.to(spec.dtype) for spec, arg in zip(net.inputs, args)}
        results = evaluate(net.network, feeds, trt=get_backend(self.flavour).trt,
                           weights=net.context.reference_weights)
        return tuple(results[spec.name] for spec in net.outputs)


def set_reference(module: torch.nn.Module, enabled: bool = True) -> torch.nn.Module:
    """Switch every TensorRT segment of `module` to (or from) reference execution on the CPU."""
    for sub in module.modules():
        if isinstance(sub, TRTEngineModule):
            sub.reference = enabled
    return module
