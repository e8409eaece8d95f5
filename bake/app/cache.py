"""``cache-from`` / ``cache-to`` of bake targets, as the app wires them: which sources a build
imports results from, and which cache entries each ``cache-to`` exports (``mode=min``: each
target's result; ``mode=max``: every step's). The entries are typed and checked when the plan is
made (``bake.exporter.specs``); writing them is ``bake.exporter.cache``'s, ``type=inline`` goes into
the image config (``inline_keys`` below, for ``bake.exporter.images``). The format is in
``bake/worker/remotecache.py``. ``gha``, ``s3`` and ``azblob`` are not supported yet: they are
reported and skipped, as buildx's docker driver does with what it cannot export.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING

from bake.exporter.cache import CacheExport, export_caches
from bake.exporter.specs import TargetSpecs
from bake.graph.digest import digest
from bake.graph.ops import Vertex
from bake.model import CacheSpec
from bake.progress.events import Noted, Sink
from bake.solver.cache import DirCache
from bake.worker.images import ImageStore
from bake.worker.keys import is_local
from bake.worker.layers import Layer
from bake.worker.remotecache import LocalSource, RegistrySource, Source
from bake.worker.snapshot import Snapshotter

if TYPE_CHECKING:
    from bake.exporter.push import Pusher
    from bake.registry.client import RegistryClient


def sources(specs: Mapping[str, TargetSpecs], cwd: str, client: Callable[[], RegistryClient],
            sink: Sink) -> list[Source]:
    """Every distinct ``cache-from`` of the plan's targets, in order."""
    out: list[Source] = []
    seen: set[CacheSpec] = set()
    for name, target in specs.items():
        for spec in target.cache_from:
            if spec in seen or not _supported(name, "cache-from", spec, sink):
                continue
            seen.add(spec)
            if spec.type == "local":
                out.append(LocalSource(_path(cwd, spec.src), spec.tag))
            else:
                out.append(RegistrySource(spec.ref, client))
    return out


def export(specs: Mapping[str, TargetSpecs], roots: Iterable[tuple[str, Vertex | None]], keys: Mapping[str, str],
           cache: DirCache, images: ImageStore, cwd: str, sink: Sink, failed: set[str],
           pusher: Pusher | None = None) -> list[str]:
    """Write every ``cache-to`` of the targets that built; returns what was written."""
    from bake.app.outputs import report_repairs

    try:
        roots = list(roots)
        exports = []
        for name, target in specs.items():
            if name in failed:
                continue
            for spec in target.cache_to:
                if spec.type == "inline" or not _supported(name, "cache-to", spec, sink):
                    continue  # inline: written into the image config by the image exporters
                mine = [v for n, v in roots if n == name and v is not None]
                wanted = mine if spec.mode == "min" else [w for v in mine for w in _walk(v)]
                exports.append(CacheExport(name, spec, _entries(wanted, keys, cache, images)))
        return export_caches(exports, images.store, cwd, images.repair, pusher)
    finally:
        report_repairs(images, sink)


def inline_keys(roots: Sequence[Vertex | None], keys: Mapping[str, str], cache: DirCache,
                snapshots: Snapshotter) -> Callable[[str], dict[str, int]]:
    """For cache-to type=inline: snapshot id → {cache key: chain length} of every step of the
    target whose result lies in that snapshot's chain (the image's layers rebuild each of them)."""
    results: dict[str, str] = {}
    for root in roots:
        for v in _walk(root) if root is not None else []:
            key = keys.get(digest(v))
            result = cache.get(key) if key else None
            if key and result:
                results[key] = result

    def of(sid: str) -> dict[str, int]:
        chain = list(reversed(snapshots.chain(sid)))
        position = {s: n + 1 for n, s in enumerate(chain)}
        return {k: position[r] for k, r in results.items() if r in position}

    return of


def _entries(vertices: Sequence[Vertex], keys: Mapping[str, str], cache: DirCache,
             images: ImageStore) -> dict[str, list[Layer]]:
    out: dict[str, list[Layer]] = {}
    for v in vertices:
        if is_local(v):
            continue  # a copy of a local context: every machine has its own, and a warm build never keys it
        key = keys.get(digest(v))
        result = cache.get(key) if key else None
        if key is None or result is None or not images.snapshots.committed(result):
            continue
        out[key] = [images.layers.layer(s) for s in reversed(images.snapshots.chain(result))]
    return out


def _walk(root: Vertex) -> list[Vertex]:
    seen: dict[str, Vertex] = {}
    stack = [root]
    while stack:
        v = stack.pop()
        if digest(v) not in seen:
            seen[digest(v)] = v
            stack.extend(v.inputs)
    return list(seen.values())


def _supported(target: str, kind: str, spec: CacheSpec, sink: Sink) -> bool:
    if spec.supported:
        return True
    sink(Noted(f"target {target}: {kind} type={spec.type} is not supported yet; building without it",
               time.time(), "warning"))
    return False


def _path(cwd: str, path: str) -> str:
    return path if os.path.isabs(path) else os.path.join(cwd, path)
