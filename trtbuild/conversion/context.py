"""What a converter works with: the network, the current node, and helpers for common layers.

Networks are strongly typed: every dtype change is an explicit cast, and both operands of an
elementwise layer must share rank and dtype. The helpers here do the promotion and broadcasting the
way torch does, so converters stay short.
"""

from __future__ import annotations

import operator
import os
import re
from typing import Any, Sequence

import numpy as np
import torch
import torch.fx

from ..errors import ConversionError
from ..views import permuted_storage, view_key

TORCH_TO_NUMPY = {
    torch.float32: np.float32, torch.float16: np.float16, torch.float64: np.float64,
    torch.int64: np.int64, torch.int32: np.int32, torch.int8: np.int8, torch.uint8: np.uint8,
    torch.bool: np.bool_,
}


_TORCH_DIR = os.path.dirname(torch.__file__) + os.sep
# Types numpy lacks: their bytes travel as these integer types, and TensorRT reads them back opaque.
OPAQUE_DTYPES = {torch.bfloat16: torch.int16, torch.float8_e4m3fn: torch.uint8}


def source_location(node: torch.fx.Node) -> str:
    """`file.py:123 in forward` of the model code that produced the node, or '' when unknown: the
    innermost frame outside torch itself (the model's `self.act(x)`, not nn.Tanh's forward)."""
    trace = node.meta.get("stack_trace") or ""
    frames = re.findall(r'File "([^"]+)", line (\d+), in (\S+)', trace)
    if not frames:
        return ""
    path, line, func = ([f for f in frames if not f[0].startswith(_TORCH_DIR)] or frames)[-1]
    return f"{path}:{line} in {func}"


def describe_node(node: torch.fx.Node) -> str:
    where = source_location(node)
    return f"{node.name} ({node.target})" + (f" at {where}" if where else "")


class CapturingLogger:
    """Build a TensorRT logger that keeps error messages (TensorRT reports bad layers lazily)."""

    def __init__(self, trt: Any):
        self.errors: list[str] = []
        self.warnings: list[str] = []
        outer = self

        class _Logger(trt.ILogger):
            def __init__(self) -> None:
                trt.ILogger.__init__(self)

            def log(self, severity: Any, msg: str) -> None:
                if severity in (trt.ILogger.Severity.ERROR, trt.ILogger.Severity.INTERNAL_ERROR):
                    outer.errors.append(msg)
                elif severity == trt.ILogger.Severity.WARNING:
                    outer.warnings.append(msg)

        self.logger = _Logger()

    def take_errors(self) -> list[str]:
        errors, self.errors = self.errors, []
        return errors


class ConversionContext:
    def __init__(self, trt: Any, network: Any, logger: CapturingLogger, settings: Any):
        self.trt, self.network, self.logger, self.settings = trt, network, logger, settings
        self.node: torch.fx.Node | None = None
        self.keepalive: list[Any] = []  # numpy arrays backing trt.Weights must outlive the build
        self._constants: dict[int, Any] = {}
        self._layer_count = 0
        self._layers_of_node: list[Any] = []
        # bf16/fp8 weights cannot be read back from a network: the reference evaluator gets them here,
        # keyed "<layer name>" (constants) or "<layer name>:<role>" (e.g. a conv's kernel)
        self.reference_weights: dict[str, torch.Tensor] = {}
        self._pending_weights: list[tuple[str, torch.Tensor]] = []

    # -- dtypes -----------------------------------------------------------------------------
    def trt_dtype(self, dtype: torch.dtype) -> Any:
        dt = self.trt.DataType
        table = {torch.float32: dt.FLOAT, torch.float16: dt.HALF, torch.bfloat16: dt.BF16,
                 torch.int32: dt.INT32, torch.int64: dt.INT64, torch.bool: dt.BOOL,
                 torch.int8: dt.INT8, torch.uint8: dt.UINT8, torch.float8_e4m3fn: dt.FP8}
        if dtype not in table:
            raise self.error(f"dtype {dtype} has no TensorRT equivalent")
        return table[dtype]

    def torch_dtype(self, trt_dtype: Any) -> torch.dtype:
        dt = self.trt.DataType
        table = {dt.FLOAT: torch.float32, dt.HALF: torch.float16, dt.BF16: torch.bfloat16,
                 dt.INT32: torch.int32, dt.INT64: torch.int64, dt.BOOL: torch.bool,
                 dt.INT8: torch.int8, dt.UINT8: torch.uint8, dt.FP8: torch.float8_e4m3fn}
        return table[trt_dtype]

    # -- layers -----------------------------------------------------------------------------
    def add(self, layer: Any) -> Any:
        """Name a new layer after the current node and record it for error checks."""
        self._layer_count += 1
        node_name = self.node.name if self.node is not None else "trtbuild"
        layer.name = f"{node_name}/{self._layer_count}"
        layer.metadata = node_name
        self._layers_of_node.append(layer)
        for role, tensor in self._pending_weights:
            self.reference_weights[f"{layer.name}:{role}"] = tensor
        self._pending_weights = []
        return layer

    def out(self, layer: Any, index: int = 0) -> Any:
        return self.add(layer).get_output(index)

    def begin_node(self, node: torch.fx.Node) -> None:
        self.node, self._layers_of_node = node, []

    def end_node(self) -> None:
        """Surface TensorRT's lazy definition errors now, naming the node that caused them."""
        for layer in self._layers_of_node:
            for i in range(layer.num_outputs):
                layer.get_output(i).shape  # noqa: B018 (querying the shape runs validation)
        errors = self.logger.take_errors()
        if errors:
            raise self.error("TensorRT rejected a layer: " + "; ".join(errors))

    def error(self, message: str) -> ConversionError:
        if self.node is None:
            return ConversionError(f"network: {message}")
        return ConversionError(f"{describe_node(self.node)}: {message}", node=self.node.name, reason=message)

    # -- tensors ----------------------------------------------------------------------------
    def constant(self, value: Any, dtype: torch.dtype | None = None) -> Any:
        """An ITensor holding `value` (a torch tensor, numpy array or python scalar)."""
        key = view_key(value) if isinstance(value, torch.Tensor) else None
        if key is not None and dtype is None and key in self._constants:
            return self._constants[key]
        if isinstance(value, torch.Tensor):
            tensor = value.detach().cpu()
            if dtype is not None:
                tensor = tensor.to(dtype)
            permuted = permuted_storage(tensor)
            if permuted is not None:
                result = self._permuted_constant(*permuted)
                if key is not None and dtype is None:
                    self._constants[key] = result
                return result
            array = self._to_numpy(tensor)
        else:
            array = np.asarray(value, dtype=TORCH_TO_NUMPY[dtype] if dtype else None)
            if array.dtype == np.float64:
                array = array.astype(np.float32)
        array = np.require(array, requirements="C")  # not ascontiguousarray: it turns 0-d into 1-d
        self.keepalive.append(array)
        opaque = isinstance(value, torch.Tensor) and tensor.dtype in OPAQUE_DTYPES
        if opaque:
            weights = self.trt.Weights(self.trt_dtype(tensor.dtype), array.ctypes.data, array.size)
        else:
            weights = self.trt.Weights(array)
        result = self.out(self.network.add_constant(tuple(array.shape), weights))
        if opaque:
            self.reference_weights[self._layers_of_node[-1].name] = tensor
        if key is not None and dtype is None:
            self._constants[key] = result
            self.keepalive.append(value)
        return result

    def _permuted_constant(self, storage: torch.Tensor, perm: tuple[int, ...]) -> Any:
        """The constant over `storage`'s own bytes, transposed by a shuffle layer: TensorRT folds the
        pair while it builds, so no transposed copy of the weight is made here."""
        layer = self.network.add_shuffle(self.constant(storage))
        layer.first_transpose = perm
        return self.out(layer)

    @staticmethod
    def _to_numpy(tensor: torch.Tensor) -> np.ndarray:
        if tensor.dtype in OPAQUE_DTYPES:  # numpy has no bf16 or fp8: pass the raw bits
            return tensor.contiguous().view(OPAQUE_DTYPES[tensor.dtype]).numpy()
        return tensor.contiguous().numpy()

    def weights(self, tensor: torch.Tensor, role: str) -> Any:
        """`trt.Weights` over a torch tensor's bytes, kept alive until the build is done.

        `role` names the attribute the next added layer uses them for ("kernel", "bias", ...)."""
        array = np.require(self._to_numpy(tensor.detach().cpu()), requirements="C")
        self.keepalive.append(array)
        if tensor.dtype in OPAQUE_DTYPES:
            self._pending_weights.append((role, tensor.detach().cpu()))
            return self.trt.Weights(self.trt_dtype(tensor.dtype), array.ctypes.data, array.size)
        return self.trt.Weights(array)

    def tensor(self, value: Any, like: Any = None) -> Any:
        """ITensor for a converter operand. Python scalars take `like`'s dtype (torch semantics)."""
        if isinstance(value, self.trt.ITensor):
            return value
        if isinstance(value, torch.Tensor):
            return self.constant(value)
        dtype = self._scalar_dtype(value, like)
        return self.constant(np.array(value, dtype=TORCH_TO_NUMPY.get(dtype, np.float32)), None)

    def _scalar_dtype(self, value: Any, like: Any) -> torch.dtype:
        like_dtype = self.torch_dtype(like.dtype) if like is not None else None
        if isinstance(value, bool):
            return like_dtype or torch.bool
        if isinstance(value, int):
            return like_dtype if like_dtype is not None and like_dtype != torch.bool else torch.int64
        if like_dtype is not None and like_dtype.is_floating_point:
            return like_dtype
        return torch.float32

    def dtype_of(self, x: Any) -> torch.dtype:
        return self.torch_dtype(x.dtype)

    def cast(self, x: Any, dtype: torch.dtype) -> Any:
        if self.dtype_of(x) == dtype:
            return x
        return self.out(self.network.add_cast(x, self.trt_dtype(dtype)))

    def rank(self, x: Any) -> int:
        return len(x.shape)

    def shape(self, x: Any) -> tuple[int, ...]:
        """Static dims (-1 where dynamic)."""
        return tuple(x.shape)

    def shape_tensor(self, x: Any) -> Any:
        """x's shape as an INT64 1-D shape tensor (works for dynamic dims)."""
        return self.out(self.network.add_shape(x))

    def size_of(self, x: Any, dim: int) -> Any:
        """Dim `dim` of x: an int when static, else a 0-d INT64 shape tensor."""
        size = self.shape(x)[dim]
        if size >= 0:
            return size
        index = self.constant(np.array(dim % self.rank(x), dtype=np.int64))
        return self.out(self.network.add_gather(self.shape_tensor(x), index, 0))

    def size_math(self, a: Any, b: Any, op: str) -> Any:
        """Arithmetic on sizes that may be ints or 0-d INT64 shape tensors (op: SUM SUB PROD FLOOR_DIV MIN MAX,
        and MOD: python's %, which takes the divisor's sign)."""
        if isinstance(a, int) and isinstance(b, int):
            return SIZE_OPS[op](a, b)
        if op == "MOD":  # no elementwise modulo with floor semantics: a - (a // b) * b
            return self.size_math(a, self.size_math(self.size_math(a, b, "FLOOR_DIV"), b, "PROD"), "SUB")
        a, b = (self.cast(self.tensor(v, like=None), torch.int64) if isinstance(v, int) else self.cast(v, torch.int64)
                for v in (a, b))
        return self.elementwise(a, b, getattr(self.trt.ElementWiseOperation, op))

    def shape_from(self, sizes: Sequence[Any]) -> Any:
        """A 1-D INT64 shape tensor from ints and 0-d/1-d size tensors (symbolic sizes)."""
        parts = []
        for size in sizes:
            if isinstance(size, self.trt.ITensor):
                size = self.cast(size, torch.int64)
                parts.append(self.reshape(size, (1,)) if self.rank(size) == 0 else size)
            else:
                parts.append(self.constant(np.array([int(size)], dtype=np.int64)))
        return self.out(self.network.add_concatenation(parts)) if len(parts) > 1 else parts[0]

    def positions(self, size: Any, rank: int, axis: int) -> Any:
        """0, 1, ..., size-1 (INT32) along `axis` of a rank-`rank` tensor whose other dims are 1;
        `size` an int or a 0-d size tensor."""
        shape: list[Any] = [1] * rank
        shape[axis] = size
        if isinstance(size, int):
            return self.constant(np.arange(size, dtype=np.int32).reshape(shape))
        fill = self.network.add_fill((0,), self.trt.FillOperation.LINSPACE, self.trt.DataType.INT32)
        fill.set_input(0, self.shape_from([size]))
        fill.set_input(1, self.constant(np.array(0, dtype=np.int32)))
        fill.set_input(2, self.constant(np.array([1], dtype=np.int32)))
        return self.reshape(self.out(fill), self.shape_from(shape))

    def slice(self, x: Any, starts: Sequence[Any], sizes: Sequence[Any], strides: Sequence[Any],
              mode: str | None = None) -> Any:
        """A Slice layer whose per-dim starts/sizes/strides may mix ints and size tensors (symbolic).

        `mode` is a `trt.SampleMode` name (WRAP, CLAMP, FILL, REFLECT); the layer is returned so
        that a FILL value can still be set (input 4)."""
        rank = self.rank(x)
        layer = self.network.add_slice(x, (0,) * rank, (1,) * rank, (1,) * rank)
        for i, attr, values in ((1, "start", starts), (2, "shape", sizes), (3, "stride", strides)):
            if all(isinstance(v, int) for v in values):
                setattr(layer, attr, tuple(values))
            else:
                layer.set_input(i, self.shape_from(values))
        if mode is not None:
            layer.mode = getattr(self.trt.SampleMode, mode)
        self.add(layer)
        return layer

    def broadcast_to(self, x: Any, sizes: Sequence[Any], source: Sequence[Any] | None = None) -> Any:
        """x expanded to `sizes` (ints or size tensors) as torch broadcasts: size-1 dims repeat (stride 0).

        `source` is x's shape as the FX graph knows it, when it knows more than TensorRT (a dim that is
        1 but reads as -1 after a runtime reshape); by default x's TensorRT shape."""
        x = self.unsqueeze_to(x, len(sizes))
        source = (1,) * (len(sizes) - len(source)) + tuple(source) if source is not None else self.shape(x)
        strides = [0 if isinstance(n, int) and n == 1 and not (isinstance(s, int) and s == 1) else 1
                   for n, s in zip(source, sizes)]
        return self.slice(x, [0] * len(sizes), sizes, strides).get_output(0)

    def reshape(self, x: Any, dims: Sequence[Any] | Any) -> Any:
        """x reshaped to `dims`: ints (one may be -1), a shape tensor, or ints mixed with size tensors."""
        layer = self.network.add_shuffle(x)
        if isinstance(dims, self.trt.ITensor):
            layer.set_input(1, dims)
        elif all(isinstance(d, int) for d in dims):
            layer.reshape_dims = tuple(dims)
        else:
            layer.set_input(1, self.shape_from(dims))
        layer.zero_is_placeholder = False
        return self.out(layer)

    def unsqueeze_to(self, x: Any, rank: int) -> Any:
        """Prepend size-1 dims until x has `rank` dims (numpy broadcasting alignment)."""
        missing = rank - self.rank(x)
        if missing <= 0:
            return x
        shape = self.shape(x)
        if all(d >= 0 for d in shape):
            return self.reshape(x, (1,) * missing + shape)
        ones = self.constant(np.ones(missing, dtype=np.int64))
        full = self.out(self.network.add_concatenation([ones, self.shape_tensor(x)]))
        return self.reshape(x, full)

    def promote(self, a: Any, b: Any) -> tuple[Any, Any]:
        """Two operands as ITensors of one dtype and one rank, following torch's promotion."""
        if not isinstance(a, self.trt.ITensor) and not isinstance(b, self.trt.ITensor):
            raise self.error("elementwise op with two constant operands (should have been folded)")
        a_t = self.tensor(a, like=b if isinstance(b, self.trt.ITensor) else None)
        b_t = self.tensor(b, like=a_t)
        dtype = self._result_dtype(a, b, a_t, b_t)
        a_t, b_t = self.cast(a_t, dtype), self.cast(b_t, dtype)
        rank = max(self.rank(a_t), self.rank(b_t))
        return self.unsqueeze_to(a_t, rank), self.unsqueeze_to(b_t, rank)

    def _result_dtype(self, a: Any, b: Any, a_t: Any, b_t: Any) -> torch.dtype:
        da, db = self.dtype_of(a_t), self.dtype_of(b_t)
        if da == db:
            return da
        # A python scalar (or 0-d tensor) never widens a dimensioned tensor of the same category.
        return torch.result_type(self._probe(a, a_t, da), self._probe(b, b_t, db))

    def _probe(self, value: Any, tensor: Any, dtype: torch.dtype) -> Any:
        if isinstance(value, (bool, int, float)):
            return value
        return torch.empty((1,) * min(1, self.rank(tensor)), dtype=dtype)

    def elementwise(self, a: Any, b: Any, op: Any) -> Any:
        a_t, b_t = self.promote(a, b)
        return self.out(self.network.add_elementwise(a_t, b_t, op))

    def select(self, condition: Any, a: Any, b: Any) -> Any:
        """torch.where(condition, a, b): a and b promoted to one dtype, all three to one rank."""
        a, b = self.promote(a, b)
        rank = max(self.rank(condition), self.rank(a))  # promote gave a and b one rank
        condition, a, b = (self.unsqueeze_to(t, rank) for t in (condition, a, b))
        return self.out(self.network.add_select(condition, a, b))

    def identity(self, x: Any) -> Any:
        return self.out(self.network.add_identity(x))


SIZE_OPS = {"SUM": operator.add, "SUB": operator.sub, "PROD": operator.mul, "FLOOR_DIV": operator.floordiv,
            "MIN": min, "MAX": max, "MOD": operator.mod}


def normalize_dim(dim: int, rank: int) -> int:
    return dim + rank if dim < 0 else dim


def axes_mask(dims: Sequence[int], rank: int) -> int:
    mask = 0
    for d in dims:
        mask |= 1 << normalize_dim(d, rank)
    return mask
