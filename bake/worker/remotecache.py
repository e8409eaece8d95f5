"""Build cache shared between machines: ``cache-to`` exports, ``cache-from`` imports.

The format is bake's own (BuildKit's cache manifests carry BuildKit's cache keys, which bake does
not compute): an OCI image manifest whose layers are every blob the exported results need and
whose config (``application/vnd.bake.cache.config.v1+json``) maps each cache key to the chain of
layers, base first, that rebuilds its result::

    {"version": 1, "layers": [{"digest", "diff_id", "mediaType", "size"}, ...],
     "keys": {"sha256:<cache key>": [0, 1, 4], ...}}

It lives in an OCI layout directory (``type=local``) or under a registry tag (``type=registry``).
Importing fetches only the blobs of the keys a build misses locally, and unpacks them through the
image store, so layers shared with pulled images are shared as snapshots too.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Protocol

import anyio

from bake.content import oci
from bake.content.cachedoc import CACHE_CONFIG, cache_config  # noqa: F401  (the format, also here for importers)
from bake.content.store import CorruptContent
from bake.errors import BakeError
from bake.registry.reference import parse_reference
from bake.worker.images import ImageStore

if TYPE_CHECKING:
    from bake.registry.client import RegistryClient

class Source(Protocol):
    """Where an imported cache lives: ``config`` is None when there is none yet (a first build);
    ``blob`` puts ``digest`` in the content store, verified."""

    async def config(self, images: ImageStore) -> dict[str, Any] | None: ...

    async def blob(self, digest: str, images: ImageStore) -> None: ...


class LocalSource:
    def __init__(self, path: str, tag: str = "") -> None:
        self.path = path
        self.tag = tag

    async def config(self, images: ImageStore) -> dict[str, Any] | None:
        try:
            with open(os.path.join(self.path, "index.json")) as f:
                index = json.load(f)
        except (OSError, ValueError):
            return None
        for m in index.get("manifests", []):
            name = (m.get("annotations") or {}).get("org.opencontainers.image.ref.name", "")
            if not self.tag or name == self.tag:
                manifest = json.loads(self._read(m["digest"]))
                if manifest.get("config", {}).get("mediaType") == CACHE_CONFIG:
                    config: dict[str, Any] = json.loads(self._read(manifest["config"]["digest"]))
                    return config
        return None

    async def blob(self, digest: str, images: ImageStore) -> None:
        if not images.store.exists(digest):
            with open(self._path(digest), "rb") as f:
                images.store.write_stream(iter(lambda: f.read(1 << 20), b""), expected=digest)

    def _path(self, digest: str) -> str:
        return os.path.join(self.path, "blobs", "sha256", digest.partition(":")[2])

    def _read(self, digest: str) -> bytes:
        with open(self._path(digest), "rb") as f:
            return f.read()


class RegistrySource:
    def __init__(self, ref: str, client: Callable[[], RegistryClient]) -> None:
        self.ref = parse_reference(ref)
        self.client = client

    async def config(self, images: ImageStore) -> dict[str, Any] | None:
        """A cache manifest's config, or the inline cache of an image (every platform of an index)."""
        from bake.registry.client import RegistryError

        try:
            top = await self.client().manifest(self.ref)
            docs = [top] if top.media_type not in oci.INDEX_TYPES else [
                await self.client().manifest(self.ref, m["digest"]) for m in top.body.get("manifests", [])]
        except RegistryError:
            return None  # no cache exported there yet
        merged: dict[str, Any] = {"version": 1, "layers": [], "keys": {}}
        for doc in docs:
            desc = doc.body.get("config") or {}
            if not desc.get("digest"):
                continue
            await self.client().fetch_blob(self.ref, desc["digest"], images.store)
            config: dict[str, Any] = json.loads(images.store.read(desc["digest"]))
            if desc.get("mediaType") == CACHE_CONFIG:
                return config
            inline = config.get(oci.INLINE_CACHE)
            if not isinstance(inline, dict):
                continue
            diff_ids = (config.get("rootfs") or {}).get("diff_ids") or []
            offset = len(merged["layers"])
            merged["layers"] += [{**layer, "diff_id": diff_ids[n]} for n, layer in enumerate(doc.body["layers"])]
            for key, chain in inline.get("keys", {}).items():
                merged["keys"][key] = [offset + n for n in chain]
        return merged if merged["keys"] else None

    async def blob(self, digest: str, images: ImageStore) -> None:
        if not images.store.exists(digest):
            await self.client().fetch_blob(self.ref, digest, images.store)


class ImportedCache:
    """The solver's ``RemoteCache`` over every ``cache-from`` source of a build."""

    def __init__(self, images: ImageStore, sources: Sequence[Source]) -> None:
        self.images = images
        self.sources = list(sources)
        self.configs: list[dict[str, Any] | None] | None = None
        self.lock = anyio.Lock()
        self.fetched = 0  # results restored (what tests and reports count)
        self.failures: list[str] = []  # sources that could not be read: reported, never fatal

    async def fetch(self, key: str) -> str | None:
        """The result for ``key`` restored from the first source that has it. A source that cannot
        be read (gone, damaged, unreachable) is a miss, never a failed build — as a cache should be."""
        async with self.lock:
            if self.configs is None:
                self.configs = [await self._config(s) for s in self.sources]
        for n, (source, config) in enumerate(zip(self.sources, self.configs, strict=True)):
            if not config or key not in config.get("keys", {}):
                continue
            try:
                return await self._restore(source, config, key)
            except (BakeError, OSError, KeyError, IndexError, ValueError, TypeError, AttributeError) as err:
                self.failures.append(f"cache-from #{n + 1}: {err}")  # a document of the wrong shape too
        return None

    async def _config(self, source: Source) -> dict[str, Any] | None:
        try:
            config = await source.config(self.images)
            if config is not None and not (isinstance(config, dict) and isinstance(config.get("keys"), dict)
                                           and isinstance(config.get("layers"), list)):
                raise ValueError("its cache config is not a bake cache config")
            return config
        except (BakeError, OSError, ValueError, KeyError, TypeError, AttributeError) as err:
            self.failures.append(f"cache-from: {err}")  # unreadable, or JSON of the wrong shape
            return None

    async def _restore(self, source: Source, config: dict[str, Any], key: str) -> str:
        chain = [config["layers"][i] for i in config["keys"][key]]
        for layer in chain:
            await source.blob(layer["digest"], self.images)
        manifest = {"layers": [{k: v for k, v in x.items() if k != "diff_id"} for x in chain]}
        image_config: dict[str, object] = {"rootfs": {"type": "layers", "diff_ids": [x["diff_id"] for x in chain]}}
        doc = oci.Document(oci.MANIFEST, manifest, oci.encode(manifest))
        repaired: set[str] = set()
        while True:
            try:
                sid = await anyio.to_thread.run_sync(self.images.unpack, doc, image_config)
                break
            except CorruptContent as err:  # a stored copy went bad: take the source's again
                if err.digest in repaired:
                    raise
                repaired.add(err.digest)
                self.images.store.drop(err.digest, "a layer of an imported cache")
                await source.blob(err.digest, self.images)
        self.fetched += 1
        return sid
