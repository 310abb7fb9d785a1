"""`make --dry-run --graph FILE`: the partition drawn as SVG (or HTML around the SVG).

Nodes are the lowered graph's ops (plus its inputs and output), in layers by their longest path from an
input, coloured by segment; ops left to torch get a red border and a numbered badge whose reason is
listed in the legend (and in the node's tooltip). No layout library: layers are enough for the
mostly-chain graphs of models, and the file stays a plain, parseable SVG.
"""

from __future__ import annotations

import html
import operator
from typing import Any

import torch.fx

from .partition import Partition

TRT_COLOURS = ("#59a14f", "#4e79a7", "#76b7b2", "#8cd17d", "#a0cbe8", "#499894", "#86bcb6")
TORCH_COLOURS = ("#f28e2b", "#e15759", "#ff9da7", "#ffbe7d")
IO_COLOUR = "#d9d9d9"
BOX_W, BOX_H, GAP_X, GAP_Y, MARGIN = 150, 24, 16, 22, 20


def graph_of(gm: torch.fx.GraphModule) -> dict[str, Any]:
    """Nodes and edges of a lowered graph, before partitioning fuses it (getitem folds into its source)."""
    source = {n: n.args[0] if n.target is operator.getitem else n for n in gm.graph.nodes}
    nodes, edges = [], []
    for node in gm.graph.nodes:
        if node.op == "placeholder":
            nodes.append({"name": node.name, "op": "input", "kind": "input"})
        elif node.op == "call_function" and node.target is not operator.getitem:
            op = str(node.target).removeprefix("aten.").removesuffix(".default")
            nodes.append({"name": node.name, "op": op, "kind": "op"})
        elif node.op == "output":
            nodes.append({"name": node.name, "op": "output", "kind": "output"})
        else:
            continue
        for arg in node.all_input_nodes:
            src = source.get(arg, arg)
            while src is not source.get(src, src):
                src = source[src]
            if src.op in ("placeholder", "call_function"):
                edges.append([src.name, node.name])
    return {"nodes": nodes, "edges": sorted({tuple(e) for e in edges}, key=lambda e: (e[1], e[0]))}


def assign_segments(graph: dict[str, Any], part: Partition) -> dict[str, Any]:
    """Mark each op node with its segment (name, kind) and, if left to torch, why."""
    where, why = {}, {}
    for segment in part.segments:
        for node in part.submodule(segment).graph.nodes:
            if node.op == "call_function":
                where[node.name] = segment
        for fallback in segment.fallbacks:
            why[fallback.node] = fallback.describe()
    for node in graph["nodes"]:
        segment = where.get(node["name"])
        if segment is not None:
            node.update(segment=segment.name, segment_kind=segment.kind)
        if node["name"] in why:
            node["fallback"] = why[node["name"]]
    return graph


# -- drawing -------------------------------------------------------------------------------------

def _layers(graph: dict[str, Any]) -> dict[str, int]:
    """Each node's longest distance from an input (nodes come in topological order)."""
    preds: dict[str, list[str]] = {}
    for src, dst in graph["edges"]:
        preds.setdefault(dst, []).append(src)
    layer: dict[str, int] = {}
    for node in graph["nodes"]:
        layer[node["name"]] = 1 + max((layer.get(p, 0) for p in preds.get(node["name"], [])), default=-1)
    return layer


def _colours(graph: dict[str, Any]) -> dict[str, str]:
    colours, counts = {}, {"tensorrt": 0, "torch": 0}
    for node in graph["nodes"]:
        name, kind = node.get("segment"), node.get("segment_kind")
        if name and name not in colours:
            palette = TRT_COLOURS if kind == "tensorrt" else TORCH_COLOURS
            colours[name] = palette[counts[kind] % len(palette)]
            counts[kind] += 1
    return colours


def render_svg(plan: dict[str, Any]) -> str:
    graph = plan["graph"]
    layer, colours = _layers(graph), _colours(graph)
    rows: dict[int, list[dict]] = {}
    for node in graph["nodes"]:
        rows.setdefault(layer[node["name"]], []).append(node)
    widest = max(len(r) for r in rows.values())
    width = 2 * MARGIN + widest * (BOX_W + GAP_X) + 260
    fallbacks = [n for n in graph["nodes"] if "fallback" in n]
    legend_y = MARGIN + len(rows) * (BOX_H + GAP_Y) + 10
    height = legend_y + 24 * (len(colours) + len(fallbacks) + 2) + MARGIN
    pos: dict[str, tuple[float, float]] = {}
    for y, row in sorted(rows.items()):
        left = MARGIN + (widest - len(row)) * (BOX_W + GAP_X) / 2
        for x, node in enumerate(row):
            pos[node["name"]] = (left + x * (BOX_W + GAP_X), MARGIN + y * (BOX_H + GAP_Y))
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0f}" height="{height:.0f}" '
           f'viewBox="0 0 {width:.0f} {height:.0f}" font-family="sans-serif" font-size="12">',
           f'<title>{_e(plan["name"])}: partition</title>',
           '<rect width="100%" height="100%" fill="white"/>', '<g class="edges" fill="none" stroke="#888">']
    for src, dst in graph["edges"]:
        (x1, y1), (x2, y2) = pos[src], pos[dst]
        x1, y1, x2 = x1 + BOX_W / 2, y1 + BOX_H, x2 + BOX_W / 2
        mid = (y1 + y2) / 2
        out.append(f'<path d="M{x1:.0f},{y1:.0f} C{x1:.0f},{mid:.0f} {x2:.0f},{mid:.0f} {x2:.0f},{y2:.0f}"/>')
    out.append('</g><g class="nodes">')
    badges = {node["name"]: k for k, node in enumerate(fallbacks, start=1)}
    for node in graph["nodes"]:
        out.append(_node_svg(node, pos[node["name"]], colours, badges))
    out.append("</g>")
    out += _legend(colours, fallbacks, legend_y)
    out.append("</svg>")
    return "\n".join(out) + "\n"


def _node_svg(node: dict, at: tuple[float, float], colours: dict[str, str], badges: dict[str, int]) -> str:
    x, y = at
    segment = node.get("segment", "")
    fill = colours.get(segment, IO_COLOUR)
    tip = f'{node["name"]}: {node["op"]}' + (f" in {segment}" if segment else "")
    border = 'stroke="#333" stroke-width="1"'
    badge = ""
    if "fallback" in node:
        f = node["fallback"]
        tip += f' (torch: {f["reason"]}' + (f' at {f["source"]}' if f["source"] else "") + ")"
        border = 'stroke="#c00000" stroke-width="3"'
        k = badges[node["name"]]
        reason = f["reason"] if len(f["reason"]) <= 40 else f["reason"][:39] + "…"
        badge = (f'<circle cx="{x + BOX_W:.0f}" cy="{y:.0f}" r="9" fill="#c00000"/>'
                 f'<text x="{x + BOX_W:.0f}" y="{y + 4:.0f}" text-anchor="middle" fill="white" '
                 f'font-weight="bold">{k}</text>'
                 f'<text class="reason" x="{x + BOX_W + 14:.0f}" y="{y + 16:.0f}" fill="#c00000" '
                 f'font-size="11">{_e(reason)}</text>')
    label = node["op"] if len(node["op"]) <= 22 else node["op"][:21] + "…"
    return (f'<g class="node" data-name="{_e(node["name"])}" data-op="{_e(node["op"])}" '
            f'data-segment="{_e(segment)}"{_fallback_attr(node)}><title>{_e(tip)}</title>'
            f'<rect x="{x:.0f}" y="{y:.0f}" width="{BOX_W}" height="{BOX_H}" rx="4" fill="{fill}" {border}/>'
            f'<text x="{x + BOX_W / 2:.0f}" y="{y + 16:.0f}" text-anchor="middle">{_e(label)}</text>{badge}</g>')


def _fallback_attr(node: dict) -> str:
    return f' data-fallback="{_e(node["fallback"]["reason"])}"' if "fallback" in node else ""


def _legend(colours: dict[str, str], fallbacks: list[dict], y: float) -> list[str]:
    out = [f'<g class="legend"><text x="{MARGIN}" y="{y + 14:.0f}" font-weight="bold">segments</text>']
    for i, (name, colour) in enumerate(colours.items(), start=1):
        yy = y + 24 * i
        out.append(f'<rect x="{MARGIN}" y="{yy:.0f}" width="16" height="16" fill="{colour}" stroke="#333"/>'
                   f'<text x="{MARGIN + 24}" y="{yy + 13:.0f}">{_e(name)}</text>')
    y += 24 * (len(colours) + 1)
    if fallbacks:
        out.append(f'<text x="{MARGIN}" y="{y + 14:.0f}" font-weight="bold">left to torch</text>')
    for k, node in enumerate(fallbacks, start=1):
        f = node["fallback"]
        text = f'{k}. {node["name"]} ({f["op"]}): {f["reason"]}' + (f' at {f["source"]}' if f["source"] else "")
        out.append(f'<text class="fallback" x="{MARGIN}" y="{y + 24 * k + 13:.0f}" fill="#c00000">{_e(text)}</text>')
    out.append("</g>")
    return out


def render_html(plan: dict[str, Any]) -> str:
    """A page holding the SVG, well-formed XML (XHTML) so that it parses like the SVG does."""
    segments = plan["segments"]
    trt = sum(s["kind"] == "tensorrt" for s in segments)
    summary = f"{trt} TensorRT segment(s), {len(segments) - trt} torch segment(s)"
    return ('<!DOCTYPE html>\n<html xmlns="http://www.w3.org/1999/xhtml"><head><meta charset="utf-8"/>'
            f"<title>{_e(plan['name'])}: partition</title></head>\n<body style=\"font-family: sans-serif\">"
            f"<h1>{_e(plan['name'])}</h1><p>{_e(summary)}; hover over a node for its name, op and segment.</p>\n"
            + render_svg(plan) + "</body></html>\n")


def _e(text: Any) -> str:
    return html.escape(str(text), quote=True)
