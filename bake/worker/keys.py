"""What graph vertices' cache keys read, answered without I/O beyond the local disk: the manifest
an image reference was recorded to resolve to, and checksums of the context files ops select.
``salt`` answers None when only the network could tell (an unrecorded or ``--pull``ed image, a git
ref, a URL); the async backend asks those of the source itself. No event loop is needed here, so
a fully cached build can be recognised without one.
"""

from __future__ import annotations

import json
import os
import posixpath

from bake.content import oci
from bake.graph.ops import Copy, ExecOp, FileOp, SourceOp, Vertex
from bake.registry.reference import parse_reference
from bake.solver.protocols import Salt
from bake.worker.context import StatCache, checksum
from bake.worker.errors import SourceError, UnsupportedSource
from bake.worker.images import ImageStore

_WILDCARDS = frozenset("*?[")


def kind(op: SourceOp) -> str:
    scheme = op.identifier.partition("://")[0]
    return {"docker-image": "image", "local": "local", "git": "git", "https": "url", "http": "url"}.get(scheme, scheme)


def context_dir(cwd: str, op: SourceOp) -> str:
    return os.path.normpath(os.path.join(cwd, op.identifier[len("local://"):]))


def excludes(op: SourceOp) -> list[str]:
    if dict(op.attrs).get("include"):
        raise UnsupportedSource(f"{op.identifier}: include patterns on a context are not supported yet")
    return [p for p in dict(op.attrs).get("exclude", "").split("\n") if p]


def is_local(v: Vertex) -> bool:
    return isinstance(v.op, SourceOp) and kind(v.op) == "local"


class Salts:
    def __init__(self, images: ImageStore, statcache: StatCache, cwd: str, host_platform: str, pull: bool) -> None:
        self.images = images
        self.statcache = statcache
        self.cwd = cwd
        self.host_platform = host_platform
        self.pull = pull

    def salt(self, v: Vertex) -> Salt | None:
        op = v.op
        if isinstance(op, SourceOp):
            k = kind(op)
            if k == "local":
                return Salt(self.context(op))
            if k == "image" and not self.pull:
                ref = parse_reference(op.identifier[len("docker-image://"):])
                known = self.images.recorded(ref, oci.Platform.parse(v.platform or self.host_platform))
                return Salt(known.digest) if known is not None else None
            return None
        selected: dict[int, list[str]] = {}
        if isinstance(op, FileOp):
            for a in op.actions:
                if isinstance(a, Copy) and is_local(v.inputs[a.source]):
                    selected.setdefault(a.source, []).append(_static_prefix(a.src))
        elif isinstance(op, ExecOp):
            for m in op.mounts:
                if m.input is not None and not m.output and is_local(v.inputs[m.input]):
                    selected.setdefault(m.input, []).append(m.selector or "/")
        if not selected:
            return Salt()
        sums = {}
        for n, paths in sorted(selected.items()):
            src = v.inputs[n].op
            assert isinstance(src, SourceOp)
            sums[str(n)] = self.context(src, paths)
        return Salt(json.dumps(sums, sort_keys=True), frozenset(selected))

    def context(self, op: SourceOp, paths: list[str] | None = None) -> str:
        root = context_dir(self.cwd, op)
        if not os.path.isdir(root):
            raise SourceError(f"context {op.identifier[len('local://'):]!r}: no such directory ({root})")
        return checksum(root, excludes(op), paths, cache=self.statcache)


def _static_prefix(src: str) -> str:
    """The part of a COPY source before its first wildcard component (what it can select)."""
    parts = []
    for part in posixpath.normpath("/" + src).strip("/").split("/"):
        if _WILDCARDS & set(part):
            break
        parts.append(part)
    return "/".join(parts)
