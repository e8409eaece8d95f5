"""The documents of bake's shared build cache (``cache-to``/``cache-from``), read by the worker's
importer and written by the cache exporter. The format is described in ``bake/worker/remotecache.py``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol

from bake.content import oci

CACHE_CONFIG = "application/vnd.bake.cache.config.v1+json"


class CacheLayer(Protocol):
    @property
    def descriptor(self) -> oci.Descriptor: ...

    @property
    def diff_id(self) -> str: ...


def cache_config(entries: Mapping[str, Sequence[CacheLayer]]) -> oci.Document:
    """The config document for ``entries`` (cache key → layer chain, base first)."""
    layers: list[CacheLayer] = []
    index: dict[str, int] = {}
    keys: dict[str, list[int]] = {}
    for key, chain in sorted(entries.items()):
        for layer in chain:
            if layer.descriptor.digest not in index:
                index[layer.descriptor.digest] = len(layers)
                layers.append(layer)
        keys[key] = [index[layer.descriptor.digest] for layer in chain]
    body = {"version": 1, "keys": keys,
            "layers": [{**x.descriptor.to_json(), "diff_id": x.diff_id} for x in layers]}
    return oci.Document(CACHE_CONFIG, body, oci.encode(body))


def cache_manifest(entries: Mapping[str, Sequence[CacheLayer]]) -> tuple[oci.Document, oci.Document]:
    """(config, manifest) of a cache holding ``entries``: the manifest's layers are every blob once."""
    config = cache_config(entries)
    layers = {x.descriptor.digest: x.descriptor for chain in entries.values() for x in chain}
    manifest = oci.manifest(oci.Descriptor(CACHE_CONFIG, config.digest, len(config.raw)), list(layers.values()))
    return config, manifest
