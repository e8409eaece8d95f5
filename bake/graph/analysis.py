"""What a merged graph looks like before anything runs: per-target vertices, what is shared and by
whom, requested vs unique counts, and the critical path. Pure functions; deterministic output."""

from __future__ import annotations

import json
from collections.abc import Sequence

from bake._record import record
from bake.graph.digest import digest
from bake.graph.ops import ExecOp, FileOp, MergeOp, SourceOp, Vertex


@record
class Root:
    """One requested build: a bake target on a platform, and the vertex producing its result."""

    target: str
    platform: str
    vertex: Vertex | None


@record
class Analysis:
    roots: tuple[Root, ...]
    vertices: dict[str, Vertex]  # digest → vertex, every vertex of the merged graph
    owners: dict[str, tuple[str, ...]]  # digest → "target (platform)" labels that need it
    per_root: tuple[tuple[str, ...], ...]  # the digests each root needs, in dependency order
    critical_path: tuple[str, ...]  # digests, from a source to a result

    @property
    def requested(self) -> int:
        return sum(len(r) for r in self.per_root)

    @property
    def shared(self) -> dict[str, tuple[str, ...]]:
        return {d: o for d, o in self.owners.items() if len(o) > 1}


def analyze(roots: Sequence[Root]) -> Analysis:
    vertices: dict[str, Vertex] = {}
    owners: dict[str, list[str]] = {}
    per_root: list[tuple[str, ...]] = []
    for root in roots:
        order: list[str] = []
        seen: set[str] = set()
        if root.vertex is not None:
            _walk(root.vertex, vertices, seen, order)
        per_root.append(tuple(order))
        label = f"{root.target} ({root.platform})"
        for d in order:
            owners.setdefault(d, []).append(label)
    return Analysis(tuple(roots), vertices, {d: tuple(o) for d, o in owners.items()}, tuple(per_root),
                    _critical_path(vertices))


def _walk(root: Vertex, vertices: dict[str, Vertex], seen: set[str], order: list[str]) -> None:
    """Depth-first, inputs before the vertex, with a stack: a graph may be deeper than Python recursion."""
    d = digest(root)
    if d in seen:
        return
    seen.add(d)
    stack = [(root, d, iter(root.inputs))]
    while stack:
        v, dv, inputs = stack[-1]
        for i in inputs:
            di = digest(i)
            if di not in seen:
                seen.add(di)
                stack.append((i, di, iter(i.inputs)))
                break
        else:
            stack.pop()
            vertices.setdefault(dv, v)
            order.append(dv)


def _critical_path(vertices: dict[str, Vertex]) -> tuple[str, ...]:
    """The longest chain of dependent vertices (ties broken by the smaller chain of digests, from its
    source, for determinism). ``vertices`` lists inputs before their users. Each vertex keeps only
    its length and predecessor; chains are spelled out only to break a tie, so a long chain costs
    linear time and memory."""
    best: dict[str, tuple[int, str | None]] = {}

    def chain(d: str | None) -> tuple[str, ...]:
        out: list[str] = []
        while d is not None:
            out.append(d)
            d = best[d][1]
        return tuple(reversed(out))

    def pick(candidates: list[str]) -> str | None:
        if not candidates:
            return None
        top = max(best[c][0] for c in candidates)
        tied = [c for c in candidates if best[c][0] == top]
        return tied[0] if len(tied) == 1 else min(tied, key=chain)

    for d, v in vertices.items():
        head = pick([digest(i) for i in v.inputs])
        best[d] = ((best[head][0] if head is not None else 0) + 1, head)
    return chain(pick(list(vertices)))


def kind(v: Vertex) -> str:
    op = v.op
    if isinstance(op, SourceOp):
        return "source"
    if isinstance(op, ExecOp):
        return "exec"
    if isinstance(op, FileOp):
        return "file"
    assert isinstance(op, MergeOp)
    return "merge"


def label(v: Vertex) -> str:
    return v.name or (v.op.identifier if isinstance(v.op, SourceOp) else kind(v))


# --- renderers ------------------------------------------------------------------------------------


def render_text(a: Analysis) -> str:
    unique = len(a.vertices)
    lines = [
        f"Plan: {len(a.roots)} build(s), {a.requested} vertices requested, {unique} unique "
        f"({a.requested - unique} deduplicated)",
        "",
        "Targets:",
    ]
    for root, ds in zip(a.roots, a.per_root, strict=True):
        shared = sum(1 for d in ds if len(a.owners[d]) > 1)
        lines.append(f"  {root.target} ({root.platform}): {len(ds)} vertices, {shared} shared")
    lines += ["", f"Critical path: {len(a.critical_path)} steps"]
    lines += [f"  {d[7:19]}  {_describe(a.vertices[d])}" for d in a.critical_path]
    if a.shared:
        lines += ["", "Shared vertices:"]
        for d, who in sorted(a.shared.items(), key=lambda kv: (label(a.vertices[kv[0]]), kv[0])):
            lines.append(f"  {d[7:19]}  {_describe(a.vertices[d])}")
            lines.append(f"      used by {', '.join(who)}")
    return "\n".join(lines) + "\n"


def _describe(v: Vertex) -> str:
    return f"{label(v)}" + (f" [{v.platform}]" if v.platform else "")


def to_json(a: Analysis) -> dict[str, object]:
    return {
        "summary": {
            "builds": len(a.roots),
            "requested": a.requested,
            "unique": len(a.vertices),
            "critical_path": list(a.critical_path),
        },
        "targets": [
            {"target": r.target, "platform": r.platform, "result": digest(r.vertex) if r.vertex else None, "vertices": list(ds)}
            for r, ds in zip(a.roots, a.per_root, strict=True)
        ],
        "vertices": {
            d: {
                "name": label(v),
                "kind": kind(v),
                "platform": v.platform,
                "inputs": [digest(i) for i in v.inputs],
                "used_by": list(a.owners[d]),
            }
            for d, v in sorted(a.vertices.items())
        },
    }


def render_json(a: Analysis) -> str:
    return json.dumps(to_json(a), indent=2) + "\n"


def render_dot(a: Analysis) -> str:
    lines = ["digraph plan {", "  rankdir=LR;", "  node [shape=box, fontname=monospace];"]
    for d, v in sorted(a.vertices.items()):
        style = ', style=filled, fillcolor="#ffe9a8"' if len(a.owners[d]) > 1 else ""
        text = label(v).replace("\\", "\\\\").replace('"', '\\"')
        lines.append(f'  "{d[7:19]}" [label="{text}"{style}];')
    for d, v in sorted(a.vertices.items()):
        for i in v.inputs:
            lines.append(f'  "{digest(i)[7:19]}" -> "{d[7:19]}";')
    for r in a.roots:
        if r.vertex is not None:
            name = f"{r.target} ({r.platform})"
            lines.append(f'  "{name}" [shape=oval];')
            lines.append(f'  "{digest(r.vertex)[7:19]}" -> "{name}";')
    lines.append("}")
    return "\n".join(lines) + "\n"
