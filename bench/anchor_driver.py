"""Drive Torch-TensorRT (its TensorRT-RTX build) through one cold build on a host without a GPU.

    python -m bench.anchor_driver SPEC.json

Runs in the comparison venv (bench/anchor.py makes it), in a fresh process per build, and prints one
JSON line: stage times, engine count and bytes, versions. SPEC is what bench/anchor.py reads from a
recipe: the model factory, its kwargs and seed, the inputs, the settings and an output dir.

What this driver changes in the shipped tool's behaviour, and nothing else (docs/performance.md
says the same):
1. Device queries. `torch.cuda.current_device`, `device_count`, `get_device_capability`,
   `get_device_properties`, `get_device_name` and `mem_get_info` answer with one fixed target
   (device 0, compute capability FIXED_CC, FIXED_MEMORY bytes free of as many) instead of asking a
   CUDA driver, which this host lacks. Torch-TensorRT asks at import time and while compiling, for
   defaults, the engine's target device and log messages.
2. No deserialization. The interpreter deserializes each engine right after building it, reads
   which outputs alias inputs and serializes it again; the driver's stand-in runtime keeps the built
   plan as it is and answers "none" (true of every model here: none updates a KV cache in place).
   `TorchTensorRTModule.setup_engine`, which loads the engine for running, and
   `set_output_tensors_as_unowned`, a flag on that loaded engine, do nothing.
3. Tensors and modules stay on the CPU: `torch_tensorrt.dynamo.trace(..., device=cpu)` (its default
   device is the GPU), and `to_torch_device`, which its compiler uses to move the submodules left
   to torch (and truncated long inputs) to the engine's GPU and two of its decompositions use to
   allocate, answers "cpu". The engines' target device (`settings.device`) is untouched.
4. The timing cache goes to the run's own out dir, so every run is cold (the default path in /tmp
   would carry timing data from one run to the next).
Then the driver writes each engine's bytes to OUT/engines/<n>.plan: a build that is not written
anywhere is not comparable to ours, which writes its artifacts. Everything else is the documented
API with its defaults: `trace`, then `compile` with the recipe's settings under their own names.

Nothing here imports trtbuild: the time and memory measured are the tool's and torch's alone.
"""

from __future__ import annotations

import time

T0 = time.perf_counter()

import importlib  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402
from types import SimpleNamespace  # noqa: E402
from typing import Any  # noqa: E402

FIXED_CC = (8, 9)  # an Ada GPU: one that TensorRT-RTX runs engines on
FIXED_MEMORY = 24 << 30
FIXED_NAME = "fixed target (no GPU on this host)"


def answer_device_queries(torch: Any) -> None:
    """Replace the torch.cuda queries Torch-TensorRT makes with fixed answers (change 1)."""
    props = SimpleNamespace(name=FIXED_NAME, major=FIXED_CC[0], minor=FIXED_CC[1], total_memory=FIXED_MEMORY,
                            multi_processor_count=128, uuid="fixed")
    cuda = torch.cuda
    cuda.current_device = lambda: 0
    cuda.device_count = lambda: 1
    cuda.get_device_capability = lambda device=None: FIXED_CC
    cuda.get_device_properties = lambda device=None: props
    cuda.get_device_name = lambda device=None: FIXED_NAME
    cuda.mem_get_info = lambda device=None: (FIXED_MEMORY, FIXED_MEMORY)


class _Plan:
    """Stands in for the engine that the interpreter deserializes only to serialize it again."""

    def __init__(self, plan: Any) -> None:
        self.plan = plan

    def serialize(self) -> Any:
        return self.plan

    def get_aliased_input_tensor(self, name: str) -> None:
        return None  # no output of these models updates an input in place (no KV-cache ops)


class _PlanRuntime:
    def __init__(self, logger: Any = None) -> None:
        pass

    def deserialize_cuda_engine(self, plan: Any) -> _Plan:
        return _Plan(plan)


class _InterpreterTensorRT:
    """The interpreter's view of the tensorrt module: all of it, except that Runtime keeps plans serialized."""

    def __init__(self, real: Any) -> None:
        self._real = real

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)

    def Runtime(self, logger: Any) -> _PlanRuntime:  # noqa: N802 (the name it replaces)
        return _PlanRuntime(logger)


def keep_engines_serialized() -> None:
    """Engines are not deserialized after building (change 2)."""
    from torch_tensorrt.dynamo.conversion import _TRTInterpreter
    from torch_tensorrt.dynamo.runtime import TorchTensorRTModule

    _TRTInterpreter.trt = _InterpreterTensorRT(_TRTInterpreter.trt)
    TorchTensorRTModule.setup_engine = lambda self: None
    # a flag set on the runtime engine of the last segment: with no runtime engine there is nothing to set
    TorchTensorRTModule.set_output_tensors_as_unowned = lambda self, enabled: None


def keep_on_cpu(torch: Any) -> None:
    """What the tool would move to the GPU stays on the CPU (change 3): its compiler moves the
    submodules left to torch (and long inputs it truncates) to the engine's device, and two of its
    decompositions allocate on the default device; both go through `to_torch_device`."""
    from torch_tensorrt.dynamo import _compiler
    from torch_tensorrt.dynamo.lowering import _decompositions

    _compiler.to_torch_device = _decompositions.to_torch_device = lambda device=None: torch.device("cpu")


def build_model(spec: dict[str, Any], torch: Any) -> Any:
    module_name, _, attr = spec["factory"].partition(":")
    sys.path.insert(0, spec["folder"])
    try:
        factory: Any = importlib.import_module(module_name)
    finally:
        sys.path.remove(spec["folder"])
    for part in attr.split("."):
        factory = getattr(factory, part)
    torch.manual_seed(spec["seed"])
    return factory(**spec["kwargs"]).eval()


def tool_inputs(spec: dict[str, Any], torch: Any, torch_tensorrt: Any) -> list[Any]:
    inputs = []
    for i in spec["inputs"]:
        dtype = getattr(torch, i["dtype"])
        if i["min"] == i["max"]:
            inputs.append(torch_tensorrt.Input(shape=i["opt"], dtype=dtype, name=i["name"]))
        else:
            shared = {int(axis): name for axis, name in i["dim_names"].items()}
            inputs.append(torch_tensorrt.Input(min_shape=i["min"], opt_shape=i["opt"], max_shape=i["max"],
                                               dtype=dtype, name=i["name"], **({"shared_dims": shared} if shared else {})))
    return inputs


def passed_by_name(model: Any, names: list[str]) -> bool:
    """Inputs go in as keywords when they name forward's parameters out of positional order (as trtbuild does)."""
    import inspect

    params = [p.name for p in inspect.signature(model.forward).parameters.values()
              if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
    return names != params[:len(names)] and set(names) <= set(params)


def engines_of(module: Any) -> list[bytes]:
    from torch_tensorrt.dynamo.runtime import TorchTensorRTModule

    return [m.serialized_engine for m in module.modules() if isinstance(m, TorchTensorRTModule)]


def resident_mib() -> dict[str, float]:
    """Resident set now and the peak so far (VmRSS, VmHWM), MiB: where the memory goes, stage by stage."""
    with open("/proc/self/status") as handle:
        fields = dict(line.split(":", 1) for line in handle if line.startswith(("VmRSS:", "VmHWM:")))
    return {"rss_mib": int(fields["VmRSS"].split()[0]) / 1024, "peak_mib": int(fields["VmHWM"].split()[0]) / 1024}


def main(argv: list[str]) -> int:
    spec = json.loads(Path(argv[0]).read_text())
    out = Path(spec["out_dir"])
    timings: dict[str, float] = {}
    memory: dict[str, dict[str, float]] = {}
    start = time.perf_counter()
    import torch

    answer_device_queries(torch)
    import tensorrt_rtx
    import torch_tensorrt

    keep_engines_serialized()
    keep_on_cpu(torch)
    timings["import"] = time.perf_counter() - start
    memory["import"] = resident_mib()

    start = time.perf_counter()
    model = build_model(spec, torch)
    inputs = tool_inputs(spec, torch, torch_tensorrt)
    by_name = passed_by_name(model, [i["name"] for i in spec["inputs"]])
    cpu = torch.device("cpu")  # where the model and its example inputs live on this host
    if by_name:
        program = torch_tensorrt.dynamo.trace(model, arg_inputs=[], kwarg_inputs={i.name: i for i in inputs},
                                              device=cpu)
    else:
        program = torch_tensorrt.dynamo.trace(model, arg_inputs=inputs, device=cpu)
    timings["export"] = time.perf_counter() - start
    memory["export"] = resident_mib()

    start = time.perf_counter()
    settings = spec["settings"]
    out.mkdir(parents=True, exist_ok=True)
    options: dict[str, Any] = {
        "enabled_precisions": {getattr(torch, p) for p in settings["enabled_precisions"]},
        "min_block_size": settings["min_block_size"],
        "torch_executed_ops": set(settings["torch_executed_ops"]),
        "require_full_compilation": settings["require_full_compilation"],
        "truncate_double": settings["truncate_long_and_double"],
        "workspace_size": settings["workspace_size"],
        "optimization_level": settings["optimization_level"],
        "timing_cache_path": str(out / "timing_cache.bin"),  # change 3
    }
    if by_name:
        compiled = torch_tensorrt.dynamo.compile(program, arg_inputs=[], kwarg_inputs={i.name: i for i in inputs},
                                                 **options)
    else:
        compiled = torch_tensorrt.dynamo.compile(program, arg_inputs=inputs, **options)
    timings["compile"] = time.perf_counter() - start
    memory["compile"] = resident_mib()

    start = time.perf_counter()
    engines = engines_of(compiled)
    (out / "engines").mkdir(exist_ok=True)
    for n, plan in enumerate(engines):
        (out / "engines" / f"{n}.plan").write_bytes(plan)
    timings["write"] = time.perf_counter() - start
    memory["write"] = resident_mib()
    report = {"timings": {k: round(v, 4) for k, v in timings.items()}, "engines": len(engines),
              "engine_bytes": sum(len(p) for p in engines),
              "memory": memory, "script_seconds": round(time.perf_counter() - T0, 4),
              "versions": {"torch": torch.__version__, "torch_tensorrt": torch_tensorrt.__version__,
                           "tensorrt_rtx": tensorrt_rtx.__version__}}
    print(json.dumps(report), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
