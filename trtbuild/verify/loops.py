"""TensorRT loops in the reference evaluator, from the documented semantics of the boundary layers.

A loop is defined by its boundary layers (all sharing one ILoop):
- TRIP_LIMIT (kind COUNT): a 0-D integer tensor from outside the loop, the number of iterations M.
  (WHILE limits are not evaluated.)
- ITERATOR(t, axis, reverse): at iteration i, t indexed by i along axis (that axis removed); reverse
  indexes M-1-i.
- RECURRENCE: its output is input 0 (from outside) at the first iteration, then the value input 1
  had at the end of the previous iteration. Input 1 is the only back edge a loop may have.
- LOOP_OUTPUT: the only way out of a loop. LAST_VALUE takes a recurrence's output and gives the
  recurrence's value after the last iteration (its initial value when M = 0); CONCATENATE stacks its
  input's value of every iteration along a new `axis`, REVERSE does the same in reverse order; both
  take the length of the new axis as input 1 (elements past M iterations are unspecified: zeros here;
  no iteration at all is not evaluated).
Interior layers are those that depend, directly or not, on an iterator or a recurrence of the loop
and feed its loop outputs or recurrences; anything else is loop-invariant and computed once outside.
"""

from __future__ import annotations

from collections import ChainMap
from dataclasses import dataclass, field
from graphlib import TopologicalSorter
from typing import Any

import torch

from .layers import EvaluationError, describe

BOUNDARY = {"TRIP_LIMIT": "ITripLimitLayer", "ITERATOR": "IIteratorLayer", "RECURRENCE": "IRecurrenceLayer",
            "LOOP_OUTPUT": "ILoopOutputLayer"}


@dataclass
class Loop:
    """One loop of a network: its boundary layers and its interior in dependency order."""

    name: str
    boundary: dict[str, list] = field(default_factory=lambda: {kind: [] for kind in BOUNDARY})
    interior: list[tuple[Any, Any]] = field(default_factory=list)  # (layer, type), dependency order

    @property
    def layers(self) -> list:
        return [layer for kind in BOUNDARY for layer in self.boundary[kind]] + [layer for layer, _ in self.interior]

    def external_inputs(self) -> list[Any]:
        """Tensors the loop reads from outside (the back edges and the loop outputs' inputs are its own)."""
        produced = {layer.get_output(j).name for layer in self.layers for j in range(layer.num_outputs)}
        return [t for layer in self.layers for t in _inputs(layer) if t is not None and t.name not in produced]


def _inputs(layer) -> list[Any]:
    return [layer.get_input(j) for j in range(layer.num_inputs)]


def find_loops(trt, layers: list) -> tuple[list[Loop], set[int]]:
    """The loops among `layers` (with their types read), and the indices of every layer in a loop."""
    loops: dict[str, Loop] = {}
    for layer, kind in layers:
        if kind.name in BOUNDARY:
            layer.__class__ = getattr(trt, BOUNDARY[kind.name])
            loops.setdefault(layer.loop.name, Loop(layer.loop.name)).boundary[kind.name].append(layer)
    member: set[int] = set()
    position = {id(layer): i for i, (layer, _) in enumerate(layers)}
    for loop in loops.values():
        interior = _interior(loop, layers)
        loop.interior = [layers[i] for i in _dependency_order(interior, layers)]
        member |= interior | {position[id(layer)] for kind in BOUNDARY for layer in loop.boundary[kind]}
    return list(loops.values()), member


def _interior(loop: Loop, layers: list) -> set[int]:
    """Indices of layers downstream of the loop's iterators and recurrences, up to its boundary."""
    consumers: dict[str, list[int]] = {}
    for i, (layer, _) in enumerate(layers):
        for t in _inputs(layer):
            if t is not None:
                consumers.setdefault(t.name, []).append(i)
    boundary = {id(layer) for kind in BOUNDARY for layer in loop.boundary[kind]}
    frontier = [layer.get_output(0).name for layer in loop.boundary["ITERATOR"] + loop.boundary["RECURRENCE"]]
    interior: set[int] = set()
    while frontier:
        for i in consumers.get(frontier.pop(), []):
            layer = layers[i][0]
            if i in interior or id(layer) in boundary:
                continue
            interior.add(i)
            frontier.extend(layer.get_output(j).name for j in range(layer.num_outputs))
    return interior


def _dependency_order(indices: set[int], layers: list) -> list[int]:
    """Insertion order is not one: a converter may set a layer's input to a tensor made after it."""
    producer = {layers[i][0].get_output(j).name: i for i in indices for j in range(layers[i][0].num_outputs)}
    graph = {i: {producer[t.name] for t in _inputs(layers[i][0]) if t is not None and t.name in producer}
             for i in indices}
    return list(TopologicalSorter(graph).static_order())


def run_loop(loop: Loop, ev: Any, values: dict[str, torch.Tensor]) -> None:
    """Iterate the loop's interior and write its loop outputs into `values`."""
    trips = _trip_count(loop, values)
    state = {rec.get_output(0).name: values[rec.get_input(0).name] for rec in loop.boundary["RECURRENCE"]}
    scans: dict[int, list[torch.Tensor]] = {id(out): [] for out in loop.boundary["LOOP_OUTPUT"]}
    for i in range(trips):
        local = ChainMap(dict(state), values)  # interior values of this iteration shadow nothing outside
        for it in loop.boundary["ITERATOR"]:
            local[it.get_output(0).name] = values[it.get_input(0).name].select(it.axis, trips - 1 - i if it.reverse else i)
        for layer, kind in loop.interior:
            ev.run(layer, kind, local)
        for out in loop.boundary["LOOP_OUTPUT"]:
            scans[id(out)].append(local[out.get_input(0).name])
        state = {rec.get_output(0).name: local[rec.get_input(1).name] for rec in loop.boundary["RECURRENCE"]}
    for out in loop.boundary["LOOP_OUTPUT"]:
        values[out.get_output(0).name] = _loop_output(out, scans[id(out)], state, values)


def _trip_count(loop: Loop, values: dict[str, torch.Tensor]) -> int:
    limits = loop.boundary["TRIP_LIMIT"]
    if len(limits) != 1 or limits[0].kind.name != "COUNT":
        kinds = [limit.kind.name for limit in limits]
        raise EvaluationError(f"loop {loop.name!r}: only one COUNT trip limit is evaluated, got {kinds}")
    return int(values[limits[0].get_input(0).name])


def _loop_output(out: Any, scan: list[torch.Tensor], state: dict[str, torch.Tensor],
                 values: dict[str, torch.Tensor]) -> torch.Tensor:
    kind = out.kind.name
    if kind == "LAST_VALUE":
        source = out.get_input(0).name
        if source not in state:
            raise EvaluationError(f"{describe(out)}: a LAST_VALUE loop output must read a recurrence")
        return state[source]
    length = int(values[out.get_input(1).name])
    if len(scan) > length:
        raise EvaluationError(f"{describe(out)}: {len(scan)} iterations do not fit a {kind} of length {length}")
    if not scan:
        raise EvaluationError(f"{describe(out)}: a {kind} output of a loop that ran no iteration is not evaluated")
    stacked = torch.stack(scan[::-1] if kind == "REVERSE" else scan, dim=out.axis)
    shape = list(stacked.shape)
    shape[out.axis] = length - len(scan)
    return torch.cat([stacked, torch.zeros(shape, dtype=stacked.dtype)], dim=out.axis)
