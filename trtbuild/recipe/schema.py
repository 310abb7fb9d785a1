"""The recipe schema, declared once. Field names here are the recipe's documented contract."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, field_validator, model_validator

from ..dtypes import canonical_dtype
from ..inputs import Input
from ..settings import CompileSettings


class _Section(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ModelSection(_Section):
    factory: str | None = Field(None, description="'module:callable' returning an nn.Module")
    kwargs: dict[str, Any] = Field(default_factory=dict)
    weights: str | None = Field(None, description="state dict (.safetensors or torch.save), relative to the recipe")
    program: str | None = Field(None, description="a saved torch.export program (.pt2), relative to the recipe")
    sources: list[str] = Field(default_factory=list, description="globs of model source files (fast-path stamp)")
    seed: int = Field(0, ge=-2**63, lt=2**64,  # what torch.manual_seed accepts
                      description="torch RNG seed set before calling the factory (random init is reproducible)")

    @field_validator("factory")
    @classmethod
    def _factory_form(cls, value: str | None) -> str | None:
        if value is not None:
            module, sep, attr = value.partition(":")
            if not sep or not module or not attr:
                raise ValueError(f"expected 'module:callable', got {value!r}")
        return value

    @model_validator(mode="after")
    def _one_source(self) -> "ModelSection":
        if (self.factory is None) == (self.program is None):
            raise ValueError("give exactly one of 'factory' or 'program'")
        if self.program and self.weights:
            raise ValueError("'weights' applies to 'factory' models; a saved program carries its own")
        return self


Dim = int | str


class DimSpec(_Section):
    min: int = Field(ge=1)
    opt: int | None = None
    max: int = Field(ge=1)

    @model_validator(mode="after")
    def _order(self) -> "DimSpec":
        opt = self.min if self.opt is None else self.opt
        if self.min > self.max:
            raise ValueError(f"min {self.min} > max {self.max}")
        if not self.min <= opt <= self.max:
            raise ValueError(f"opt {opt} outside [min {self.min}, max {self.max}]")
        return self


class InputSection(_Section):
    name: str
    dtype: str = "float32"
    shape: list[Dim] | None = None
    min_shape: list[int] | None = None
    opt_shape: list[int] | None = None
    max_shape: list[int] | None = None
    range: tuple[float, float] | None = Field(None, description="[low, high) of random integer data for verify")

    @field_validator("dtype")
    @classmethod
    def _dtype(cls, value: str) -> str:
        return canonical_dtype(value)

    @field_validator("shape", "min_shape", "opt_shape", "max_shape")
    @classmethod
    def _positive(cls, value: list | None) -> list | None:
        for i, d in enumerate(value or []):
            if isinstance(d, int) and d <= 0:
                raise ValueError(f"dim {i} is {d}; sizes must be positive")
        return value

    @model_validator(mode="after")
    def _one_form(self) -> "InputSection":
        ranges = [self.min_shape, self.opt_shape, self.max_shape]
        if self.shape is not None and any(r is not None for r in ranges):
            raise ValueError("give either 'shape' or 'min_shape'/'opt_shape'/'max_shape', not both")
        if self.shape is None and any(r is None for r in ranges):
            raise ValueError("needs 'shape', or all of 'min_shape', 'opt_shape' and 'max_shape'")
        if self.shape is None and len({len(r) for r in ranges}) != 1:
            raise ValueError(f"min_shape, opt_shape and max_shape have different ranks "
                             f"({', '.join(str(len(r)) for r in ranges)})")
        if self.range is not None and self.range[0] >= self.range[1]:
            raise ValueError(f"range {list(self.range)} is empty; expected [low, high) with low < high")
        return self


class TargetSection(_Section):
    backend: Literal["auto", "tensorrt", "tensorrt_rtx"] = "auto"
    compute_capabilities: list[str] = Field(default_factory=list)

    @field_validator("compute_capabilities")
    @classmethod
    def _cc(cls, value: list[str]) -> list[str]:
        for cc in value:
            major, dot, minor = cc.partition(".")
            if not (dot and major.isdigit() and minor.isdigit()):
                raise ValueError(f"compute capability {cc!r} should look like '8.6'")
        return sorted(set(value), key=lambda c: tuple(map(int, c.split("."))))


class OutputSection(_Section):
    dir: str | None = Field(None, description="default build/{name}, relative to the working directory; "
                                              "{name} is replaced by the recipe's name")


class VerifySection(_Section):
    rtol: float | None = Field(None, ge=0, allow_inf_nan=False)
    atol: float | None = Field(None, ge=0, allow_inf_nan=False)
    samples: int = Field(2, ge=1, le=100)
    seed: int = Field(0, ge=-2**63, lt=2**64)


class QuantizeSection(_Section):
    """Post-training quantization (torchao PT2E): Q/DQ ops in the exported graph, scales from calibration."""

    format: Literal["int8", "fp8"]
    calibration: str | None = Field(None, description="'module:callable' returning an iterable of input batches "
                                                      "(the recipe's folder is searched first); default: random "
                                                      "inputs, for testing only")
    samples: int = Field(8, ge=1, le=100000, description="how many batches to calibrate with")
    algorithm: Literal["max", "histogram"] = Field("max", description="activation ranges: 'max' (min/max "
                                                   "observed) or 'histogram' (least quantization error)")
    exclude: list[str] = Field(default_factory=list, description="ops ('aten.linear'), FX node names or module "
                                                                 "paths ('fc', 'features.0') kept in float")

    @field_validator("calibration")
    @classmethod
    def _callable_form(cls, value: str | None) -> str | None:
        if value is not None:
            module, sep, attr = value.partition(":")
            if not (sep and module and attr):
                raise ValueError(f"expected 'module:callable', got {value!r}")
        return value


# FP8 GEMMs run on compute capability 8.9 (Ada) and newer.
FP8_MIN_CC = (8, 9)


class Recipe(_Section):
    name: str | None = None
    model: ModelSection
    dims: dict[str, DimSpec] = Field(default_factory=dict)
    inputs: list[InputSection] = Field(min_length=1)
    settings: CompileSettings = Field(default_factory=CompileSettings)
    target: TargetSection = Field(default_factory=TargetSection)
    output: OutputSection = Field(default_factory=OutputSection)
    verify: VerifySection = Field(default_factory=VerifySection)
    quantize: QuantizeSection | None = None

    _path: Path | None = PrivateAttr(None)

    @model_validator(mode="after")
    def _named_dims(self) -> "Recipe":
        names = [i.name for i in self.inputs]
        for j, name in enumerate(names):
            if name in names[:j]:
                raise ValueError(f"inputs[{j}].name: {name!r} is already the name of inputs[{names.index(name)}]; "
                                 "input names must be unique")
        for i, spec in enumerate(self.inputs):
            for j, d in enumerate(spec.shape or []):
                if isinstance(d, str) and d not in self.dims:
                    known = ", ".join(sorted(self.dims)) or "none defined"
                    raise ValueError(f"inputs[{i}].shape[{j}]: dim {d!r} is not defined in [dims] ({known})")
        return self

    @model_validator(mode="after")
    def _fp8_targets(self) -> "Recipe":
        if self.quantize is None or self.quantize.format != "fp8":
            return self
        ccs = self.target.compute_capabilities
        older = [cc for cc in ccs if tuple(map(int, cc.split("."))) < FP8_MIN_CC]
        if older or not ccs:
            why = f"{', '.join(older)} {'is' if len(older) == 1 else 'are'} older" if older else \
                "the default targets include 8.6; list the targets, e.g. [\"8.9\", \"12.0\"]"
            raise ValueError(f"target.compute_capabilities: quantize.format 'fp8' needs compute capability 8.9 or "
                             f"newer; {why}")
        return self

    @property
    def path(self) -> Path | None:
        return self._path

    @property
    def folder(self) -> Path:
        return self._path.parent if self._path else Path.cwd()

    @property
    def display_name(self) -> str:
        return self.name or (self._path.stem if self._path else "model")

    def compile_inputs(self) -> list[Input]:
        """The recipe's inputs as `Input`s, named dims resolved to ranges."""
        result = []
        for spec in self.inputs:
            if spec.shape is None:
                result.append(Input(min_shape=spec.min_shape, opt_shape=spec.opt_shape, max_shape=spec.max_shape,
                                    dtype=spec.dtype, name=spec.name, value_range=spec.range))
                continue
            lo, opt, hi, names = [], [], [], {}
            for j, d in enumerate(spec.shape):
                if isinstance(d, str):
                    dim = self.dims[d]
                    lo.append(dim.min), opt.append(dim.min if dim.opt is None else dim.opt), hi.append(dim.max)
                    names[j] = d
                else:
                    lo.append(d), opt.append(d), hi.append(d)
            result.append(Input(min_shape=lo, opt_shape=opt, max_shape=hi, dtype=spec.dtype,
                                name=spec.name, dim_names=names, value_range=spec.range))
        return result

    def resolve(self, relative: str) -> Path:
        return (self.folder / relative).resolve()
