"""``type=registry`` / ``push=true``: an image (or multi-platform index) pushed under each name.

A name whose tag already serves this exact digest is left alone (one HEAD). Otherwise layers and
configs go first (a HEAD finds those the registry has, so a second push uploads nothing), then
the platform manifests by digest, then the top document under each tag — the exact bytes whose
digest was computed, so the pushed digest is the built one.
"""

from __future__ import annotations

from collections.abc import Sequence

from bake.content import oci
from bake.content.store import ContentStore
from bake.exporter.ocilayout import blobs
from bake.registry.client import RegistryClient
from bake.registry.reference import parse_reference


async def push(client: RegistryClient, store: ContentStore, top: oci.Descriptor, names: Sequence[str]) -> int:
    """Push ``top`` under every name; returns how many blobs were uploaded."""
    uploaded = 0
    everything = blobs(store, top)
    documents = [d for d in everything if d.media_type in oci.MANIFEST_TYPES or d.media_type in oci.INDEX_TYPES]
    plain = [d for d in everything if d not in documents]
    for name in names:
        ref = parse_reference(name)
        if await client.pushed_digest(ref) == top.digest:
            continue
        for d in plain:
            uploaded += await client.push_blob(ref, d.digest, store.read(d.digest))
        for d in reversed(documents):  # children before the index that names them
            doc = oci.parse(store.read(d.digest), d.media_type)
            if d.digest != top.digest:
                await client.push_manifest(ref, doc, tag=d.digest)
        top_doc = oci.parse(store.read(top.digest), top.media_type)
        await client.push_manifest(ref, top_doc, tag=ref.tag or "latest")
    return uploaded
