"""The converter registry: aten overload -> converter function, with optional capability checks.

A capability check is a pure predicate over the FX node that returns None when the converter can
handle the node, or a short reason why not. The partitioner asks the same question, so a node a
converter cannot handle falls back to torch instead of failing the build.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import torch.fx

Check = Callable[[torch.fx.Node], "str | None"]


@dataclass(frozen=True)
class Converter:
    target: Any
    fn: Callable
    checks: tuple[Check, ...] = ()

    @property
    def name(self) -> str:
        return f"{self.fn.__module__.rsplit('.', 1)[-1]}.{self.fn.__name__}"

    def unsupported_reason(self, node: torch.fx.Node) -> str | None:
        for check in self.checks:
            reason = check(node)
            if reason:
                return reason
        return None


CONVERTERS: dict[Any, Converter] = {}


def converter(*targets: Any, checks: tuple[Check, ...] | Check = ()) -> Callable:
    """Register `fn(ctx, node, **normalized_args)` as the converter for each aten overload given."""
    if callable(checks):
        checks = (checks,)

    def register(fn: Callable) -> Callable:
        for target in targets:
            if target in CONVERTERS:
                raise RuntimeError(f"two converters for {target}: {CONVERTERS[target].name} and {fn.__name__}")
            CONVERTERS[target] = Converter(target, fn, tuple(checks))
        return fn

    return register


def lookup(target: Any) -> Converter | None:
    _load_ops()
    return CONVERTERS.get(target)


def all_converters() -> dict[Any, Converter]:
    _load_ops()
    return dict(CONVERTERS)


_loaded = False


def _load_ops() -> None:
    global _loaded
    if not _loaded:
        _loaded = True
        from . import ops  # noqa: F401  (registers every converter module)
