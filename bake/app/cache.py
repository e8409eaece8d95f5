"""``cache-from`` / ``cache-to`` of bake targets: which sources a build imports results from, and
exporting a build's results (``mode=min``: each target's result; ``mode=max``: every step's) to
an OCI layout directory (``type=local``) or a registry (``type=registry``); ``type=inline`` goes
into the image config instead (``inline_keys`` below, written by app/images.py). The format is in
``bake/worker/remotecache.py``. ``gha``, ``s3`` and ``azblob`` are not supported yet: they are
reported and skipped, as buildx's docker driver does with what it cannot export.
"""

from __future__ import annotations

import functools
import os
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING

from bake.app.images import restoring
from bake.content import oci
from bake.errors import UsageError
from bake.graph.digest import digest
from bake.graph.ops import Vertex
from bake.model import CacheEntry, Plan
from bake.progress.events import Noted, Sink
from bake.solver.cache import DirCache
from bake.worker.images import ImageStore
from bake.worker.keys import is_local
from bake.worker.layers import Layer
from bake.worker.remotecache import CACHE_CONFIG, LocalSource, RegistrySource, Source, cache_config
from bake.worker.snapshot import Snapshotter

if TYPE_CHECKING:
    from bake.registry.client import RegistryClient

SUPPORTED = ("local", "registry")  # and inline on cache-to (in the image config; see app/images.py)


def sources(plan: Plan, cwd: str, client: Callable[[], RegistryClient], sink: Sink) -> list[Source]:
    """Every distinct ``cache-from`` of the plan's targets, in order."""
    out: list[Source] = []
    seen: set[tuple[str, tuple[tuple[str, str], ...]]] = set()
    for name, t in plan.targets.items():
        for entry in t.cache_from or ():
            if (entry.type, entry.attrs) in seen or not _supported(name, "cache-from", entry, sink):
                continue
            seen.add((entry.type, entry.attrs))
            attrs = dict(entry.attrs)
            if entry.type == "local":
                out.append(LocalSource(_path(cwd, _need(name, attrs, "src")), attrs.get("tag", "")))
            else:
                out.append(RegistrySource(_need(name, attrs, "ref"), client))
    return out


def export(plan: Plan, roots: Iterable[tuple[str, Vertex | None]], keys: Mapping[str, str], cache: DirCache,
           images: ImageStore, cwd: str, sink: Sink, failed: set[str]) -> list[str]:
    """Write every ``cache-to`` of the targets that built; returns what was written."""
    from bake.app.outputs import report_repairs

    try:
        return _export(plan, roots, keys, cache, images, cwd, sink, failed)
    finally:
        report_repairs(images, sink)


def _export(plan: Plan, roots: Iterable[tuple[str, Vertex | None]], keys: Mapping[str, str], cache: DirCache,
            images: ImageStore, cwd: str, sink: Sink, failed: set[str]) -> list[str]:
    done: list[str] = []
    pushes: list[tuple[oci.Descriptor, str]] = []
    roots = list(roots)
    for name, t in plan.targets.items():
        if name in failed:
            continue
        for entry in t.cache_to or ():
            if entry.type == "inline":
                continue  # written into the image config by the image exporters
            if not _supported(name, "cache-to", entry, sink):
                continue
            attrs = dict(entry.attrs)
            mode = attrs.get("mode", "min")
            if mode not in ("min", "max"):
                raise UsageError(f"target {name}: cache-to mode={mode} (expected min or max)")
            mine = [v for n, v in roots if n == name and v is not None]
            wanted = mine if mode == "min" else [w for v in mine for w in _walk(v)]
            entries = _entries(wanted, keys, cache, images)
            config = cache_config(entries)
            images.store.write(config.raw)
            layers = {x.descriptor.digest: x.descriptor for chain in entries.values() for x in chain}
            manifest = oci.manifest(oci.Descriptor(CACHE_CONFIG, config.digest, len(config.raw)), list(layers.values()))
            images.store.write(manifest.raw)
            if entry.type == "local":
                from bake.exporter.ocilayout import Named, write_dir

                dest = _path(cwd, _need(name, attrs, "dest"))
                named = [Named(manifest.descriptor(), (attrs.get("tag", "latest"),))]
                restoring(images.repair, f"target {name}: cache-to type=local,dest={attrs['dest']}",
                          functools.partial(write_dir, images.store, named, dest))
                done.append(f"cache type=local,dest={attrs['dest']} ({len(entries)} keys)")
            else:
                pushes.append((manifest.descriptor(), _need(name, attrs, "ref")))
                done.append(f"cache type=registry,ref={attrs['ref']} ({len(entries)} keys)")
    if pushes:
        from bake.app.images import push_all  # one client for all: an unchanged ref costs one HEAD

        refs = ", ".join(ref for _, ref in pushes)
        restoring(images.repair, f"cache-to type=registry ({refs})",
                  lambda: push_all(images.store, [(top, [ref]) for top, ref in pushes]))
    return done


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


def _supported(target: str, kind: str, entry: CacheEntry, sink: Sink) -> bool:
    if entry.type in SUPPORTED:
        return True
    sink(Noted(f"target {target}: {kind} type={entry.type} is not supported yet; building without it",
               time.time(), "warning"))
    return False


def _need(target: str, attrs: Mapping[str, str], key: str) -> str:
    if not attrs.get(key):
        raise UsageError(f"target {target}: this cache entry needs {key}=")
    return attrs[key]


def _path(cwd: str, path: str) -> str:
    return path if os.path.isabs(path) else os.path.join(cwd, path)
