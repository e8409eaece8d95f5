"""``cache-to`` writing: a build's cache entries (cache key → the layer chain that rebuilds its
result) as one cache manifest per entry, written to an OCI layout directory (``type=local``) or
pushed (``type=registry``, every ref through the command's one pusher: an unchanged ref costs one
HEAD). Which keys go in (``mode=min``/``max``) is the app's to say; ``type=inline`` goes into the
image config instead (``bake.exporter.images``)."""

from __future__ import annotations

import functools
import os
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from bake.content import oci
from bake.content.cachedoc import CacheLayer, cache_manifest
from bake.content.store import ContentStore
from bake.exporter.errors import ExportError, Repair, restoring
from bake.exporter.ocilayout import Named, write_dir
from bake.model import CacheSpec

if TYPE_CHECKING:
    from bake.exporter.push import Pusher


class CacheExport:
    """One ``cache-to`` entry of a target that built, and what goes in it."""

    def __init__(self, target: str, spec: CacheSpec, entries: Mapping[str, Sequence[CacheLayer]]) -> None:
        self.target = target
        self.spec = spec
        self.entries = entries


def export_caches(exports: Sequence[CacheExport], store: ContentStore, cwd: str, repair: Repair | None = None,
                  pusher: Pusher | None = None) -> list[str]:
    """Write every cache; returns what was written."""
    done: list[str] = []
    pushes: list[tuple[oci.Descriptor, str]] = []
    for x in exports:
        config, manifest = cache_manifest(x.entries)
        store.write(config.raw)
        store.write(manifest.raw)
        if x.spec.type == "local":
            dest = x.spec.dest if os.path.isabs(x.spec.dest) else os.path.join(cwd, x.spec.dest)
            named = [Named(manifest.descriptor(), (x.spec.tag or "latest",), cache=True)]
            restoring(repair, f"target {x.target}: cache-to type=local,dest={x.spec.dest}",
                      functools.partial(write_dir, store, named, dest))
            done.append(f"cache type=local,dest={x.spec.dest} ({len(x.entries)} keys)")
        else:
            pushes.append((manifest.descriptor(), x.spec.ref))
            done.append(f"cache type=registry,ref={x.spec.ref} ({len(x.entries)} keys)")
    if pushes:
        refs = ", ".join(ref for _, ref in pushes)
        if pusher is None:
            raise ExportError(f"cache-to type=registry ({refs}): this command has no registry client")
        push = pusher
        restoring(repair, f"cache-to type=registry ({refs})", lambda: push([(top, [ref]) for top, ref in pushes]))
    return done
