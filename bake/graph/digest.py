"""Content addresses of vertices: sha256 of a canonical JSON encoding of the op, the inputs'
digests and the platform. The encoding is frozen by golden tests: changing it changes every
cache key, so it must only change on purpose."""

from __future__ import annotations

import base64
import hashlib
import json

from bake.graph.ops import Op, Vertex

ENCODING_VERSION = 1


def encode_op(op: Op) -> dict[str, object]:
    """``{"type": "ExecOp", field: value, …}`` with nested records encoded the same way."""
    return _encode(op)  # type: ignore[return-value]


def _encode(v: object) -> object:
    if hasattr(v, "_fields"):
        out: dict[str, object] = {"type": type(v).__name__}
        for name in v._fields:
            out[name] = _encode(getattr(v, name))
        return out
    if isinstance(v, tuple | list):
        return [_encode(x) for x in v]
    if isinstance(v, bytes):
        return {"bytes": base64.b64encode(v).decode()}
    return v


def digest(vertex: Vertex) -> str:
    """``sha256:…`` of the vertex; memoised on the vertex (its name is not part of it)."""
    cached = vertex.__dict__.get("_digest")
    if cached is not None:
        return str(cached)
    # Inputs first, with a stack rather than recursion: a long Dockerfile is a chain of as many
    # vertices as it has instructions, deeper than Python's recursion limit.
    stack = [vertex]
    while stack:
        v = stack[-1]
        pending = [i for i in v.inputs if "_digest" not in i.__dict__]
        if pending:
            stack.extend(pending)
            continue
        stack.pop()
        if "_digest" not in v.__dict__:
            v.__dict__["_digest"] = _digest_of(v)  # records are frozen; the memo is not a field
    return str(vertex.__dict__["_digest"])


def _digest_of(vertex: Vertex) -> str:
    """The digest of a vertex whose inputs' digests are memoised already."""
    doc = {
        "v": ENCODING_VERSION,
        "op": encode_op(vertex.op),
        "inputs": [i.__dict__["_digest"] for i in vertex.inputs],
        "platform": vertex.platform,
    }
    text = json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()
