"""``type=registry`` / ``push=true``: an image (or multi-platform index) pushed under each name.

A name whose tag already serves this exact digest is left alone (one HEAD). Otherwise layers and
configs go first (a HEAD finds those the registry has, so a second push uploads nothing), then
the platform manifests by digest, then the top document under each tag — the exact bytes whose
digest was computed, so the pushed digest is the built one.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import TYPE_CHECKING, Protocol

from bake.content import oci
from bake.content.store import ContentStore
from bake.exporter.ocilayout import blobs
from bake.registry.reference import parse_reference

if TYPE_CHECKING:  # httpx is imported only when a registry is asked: a warm no-op build never imports it
    from bake.registry.client import RegistryClient


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


async def push_all(client: RegistryClient, store: ContentStore,
                   images: Sequence[tuple[oci.Descriptor, Sequence[str]]], insecure: Collection[str] = ()) -> None:
    """Push every image through the command's one client, one after another: a blob the first push
    uploaded is found (same repository) or mounted (another one) by the next, never uploaded
    twice. ``insecure``: registries an output marked ``registry.insecure=true`` (plain HTTP, or
    HTTPS without verification), for this client from now on."""
    if insecure:
        from bake.registry.config import HostSettings, RegistryConfig

        hosts = dict(client.config.hosts)
        for host in insecure:
            hosts[host] = HostSettings(client.config.host(host).mirrors, http=True, insecure=True)
        client.config = RegistryConfig(hosts)
    for top, names in images:
        await push(client, store, top, names)


class Pusher(Protocol):
    """How exporters reach registries: push these images (each under its names), blocking until done.
    The app gives one bound to the command's event loop and registry client."""

    def __call__(self, images: Sequence[tuple[oci.Descriptor, Sequence[str]]], insecure: Collection[str] = ()) -> None:
        ...
