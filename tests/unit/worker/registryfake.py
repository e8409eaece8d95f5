"""A registry for unit tests: images made from inline file lists, served through the calls the
worker makes of a ``RegistryClient`` (``resolve``, ``fetch_blob``, ``download_blob``) and
``manifest``; every call is counted."""

from __future__ import annotations

import gzip
import hashlib
import io
import tarfile
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from bake.content import oci
from bake.content.ingest import Ingest
from bake.content.store import ContentStore
from bake.registry.client import RegistryError
from bake.registry.reference import Reference


def layer_tar(files: dict[str, str]) -> bytes:
    """An uncompressed layer: ``path → text`` (a path ending in ``/`` is a directory; a name
    ``.wh.x`` is a whiteout, as in any layer)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as t:
        for path, text in files.items():
            info = tarfile.TarInfo(path.strip("/"))
            info.mtime = 1_700_000_000
            if path.endswith("/"):
                info.type, info.mode = tarfile.DIRTYPE, 0o755
                t.addfile(info)
            else:
                data = text.encode()
                info.size, info.mode = len(data), 0o644
                t.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


@dataclass
class FakeRegistry:
    manifests: dict[str, oci.Document] = field(default_factory=dict)  # reference → manifest or index
    blobs: dict[str, bytes] = field(default_factory=dict)
    calls: Counter[str] = field(default_factory=Counter)
    fetched: list[str] = field(default_factory=list)
    served: dict[str, bytes] = field(default_factory=dict)  # digest → other bytes sent for it (a lying registry)
    chunk: int = 1 << 16
    between: Callable[[str, int], Awaitable[None]] | None = None  # awaited after each chunk (blob, bytes sent)
    downloading: int = 0
    most_at_once: int = 0  # the most downloads that were under way at once
    roots: dict[str, str] = field(default_factory=dict)  # reference → the digest it resolves to: its index's

    def image(self, ref: str, *layers: dict[str, str], config: dict[str, object] | None = None,
              gzipped: bool = True) -> oci.Document:
        """Serve an image under ``ref``; returns its manifest."""
        descriptors, diff_ids = [], []
        for files in layers:
            tar = layer_tar(files)
            blob = gzip.compress(tar, mtime=0) if gzipped else tar
            self.blobs[digest(blob)] = blob
            descriptors.append(oci.Descriptor(oci.LAYER_GZIP if gzipped else oci.LAYER_TAR, digest(blob), len(blob)))
            diff_ids.append(digest(tar))
        body = {"architecture": "amd64", "os": "linux", "config": {}, **(config or {}),
                "rootfs": {"type": "layers", "diff_ids": diff_ids}}
        raw = oci.encode(body)
        self.blobs[digest(raw)] = raw
        manifest = oci.manifest(oci.Descriptor(oci.CONFIG, digest(raw), len(raw)), descriptors)
        self.manifests[ref] = manifest
        self.manifests[manifest.digest] = manifest
        return manifest

    def client(self) -> FakeRegistry:
        """What ``WorkerState.client`` answers."""
        self.calls["client"] += 1
        return self

    async def manifest(self, ref: Reference, reference: str | None = None) -> oci.Document:
        self.calls["manifest"] += 1
        key = reference or str(ref)
        if key not in self.manifests:
            raise RegistryError(f"{ref}: manifest not found (404)", 404)
        return self.manifests[key]

    async def resolve(self, ref: Reference, platform: oci.Platform) -> tuple[oci.Document, str]:
        self.calls["resolve"] += 1
        doc = self.manifests[str(ref)]
        return doc, self.roots.get(str(ref), doc.digest)

    async def fetch_blob(self, ref: Reference, blob: str, store: ContentStore) -> str:
        self.calls["fetch_blob"] += 1
        self.fetched.append(blob)
        if blob not in self.blobs:
            raise RegistryError(f"{ref}: blob {blob} not found (404)", 404)
        store.write_stream([self.blobs[blob]], expected=blob)
        return blob

    async def download_blob(self, ref: Reference, blob: str, ingest: Ingest) -> None:
        """The blob into ``ingest`` in ``chunk``-byte pieces, yielding between them as a network does."""
        import anyio

        self.calls["download_blob"] += 1
        self.fetched.append(blob)
        if blob not in self.blobs:
            raise RegistryError(f"{ref}: blob {blob} not found (404)", 404)
        data = self.served.get(blob, self.blobs[blob])
        self.downloading += 1
        self.most_at_once = max(self.most_at_once, self.downloading)
        try:
            for at in range(0, len(data), self.chunk):
                ingest.write(data[at:at + self.chunk])
                await (self.between(blob, at + self.chunk) if self.between else anyio.sleep(0))
        finally:
            self.downloading -= 1

    async def aclose(self) -> None:
        self.calls["aclose"] += 1
