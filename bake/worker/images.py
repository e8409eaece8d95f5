"""Images as snapshot chains: pull a reference for a platform, unpack each layer into its own
committed snapshot (reused when the same layer chain was unpacked before), and return the top.

The chain is keyed by the layers' diff IDs, so two images sharing their lower layers share
those snapshots, and a second pull of the same image unpacks nothing. What a tag resolved to (per
platform) is recorded in ``resolved.json``, so a rebuild uses the same image without asking the
registry, as BuildKit does; ``refresh`` (``--pull``) resolves again. Layers may be plain, gzip or zstd.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import tempfile
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

from bake.content import oci
from bake.content.atomic import write_atomic
from bake.content.compression import decompress
from bake.content.store import ContentStore
from bake.registry.reference import Reference
from bake.worker.layers import Layers
from bake.worker.snapshot import Snapshotter
from bake.worker.unpack import apply_layer

if TYPE_CHECKING:
    from bake.registry.client import RegistryClient


class ImageStore:
    def __init__(self, root: str, store: ContentStore, snapshots: Snapshotter) -> None:
        self.index_path = os.path.join(root, "layers.json")  # chain id → committed snapshot id
        self.resolved_path = os.path.join(root, "resolved.json")  # "ref platform" → manifest digest
        self.store = store
        self.snapshots = snapshots
        self.layers = Layers(root, store, snapshots)  # an unpacked layer keeps its blob for image outputs
        self.scratch = snapshots.dir  # where layers are mounted to unpack: a build sets its own
        self._unpacking = threading.Lock()

    async def manifest(self, client: Callable[[], RegistryClient], ref: Reference, platform: oci.Platform,
                       refresh: bool = False) -> oci.Document:
        """The image manifest of ``ref`` for ``platform`` with its config blob in the store. A
        reference resolved before is taken from the record, without a request, unless ``refresh``.
        ``client`` is called only when the registry must be asked (a warm build never makes one)."""
        recorded = None if refresh else self.recorded(ref, platform)
        if recorded is not None:
            return recorded
        key = f"{ref} {platform}"
        registry = client()
        manifest, _ = await registry.resolve(ref, platform)
        self.store.write(manifest.raw)
        await registry.fetch_blob(ref, manifest.body["config"]["digest"], self.store)
        resolved = _load(self.resolved_path)
        resolved[key] = manifest.digest
        _save(self.resolved_path, resolved)
        return manifest

    def recorded(self, ref: Reference, platform: oci.Platform) -> oci.Document | None:
        """The manifest ``ref`` resolved to before for ``platform``, if it and its config are stored.
        An image bake built with ``type=image`` under that name (``images.json``) comes first, as a
        local image does for ``docker build`` (``--pull`` asks the registry instead)."""
        local = self.built(ref, platform)
        if local is not None:
            return local
        digest = _load(self.resolved_path).get(f"{ref} {platform}")
        if digest is None or not self.store.exists(digest):
            return None
        manifest = oci.parse(self.store.read(digest))
        return manifest if self.store.exists(manifest.body["config"]["digest"]) else None

    def built(self, ref: Reference, platform: oci.Platform) -> oci.Document | None:
        """The platform's manifest of an image in bake's own image store, if there is one."""
        try:
            with open(os.path.join(os.path.dirname(self.resolved_path), "images.json")) as f:
                entry = json.load(f).get(str(ref))
        except (OSError, ValueError):
            return None
        if not entry or not self.store.exists(entry["digest"]):
            return None
        doc = oci.parse(self.store.read(entry["digest"]))
        if doc.media_type in oci.INDEX_TYPES:
            try:
                doc = oci.parse(self.store.read(oci.select(doc, platform).digest))
            except (oci.OCIError, OSError):
                return None
        return doc if self.store.exists(doc.body["config"]["digest"]) else None

    async def config(self, client: Callable[[], RegistryClient], ref: Reference, platform: oci.Platform,
                     refresh: bool = False) -> dict[str, object]:
        """The image config document (no layers are fetched)."""
        manifest = await self.manifest(client, ref, platform, refresh)
        config: dict[str, object] = json.loads(self.store.read(manifest.body["config"]["digest"]))
        return config

    async def pull(self, client: Callable[[], RegistryClient], ref: Reference, platform: oci.Platform,
                   refresh: bool = False, log: Callable[[bytes], None] | None = None) -> tuple[str, dict[str, object]]:
        """(top snapshot id, image config) of ``ref`` for ``platform``; layers are fetched (those
        not in the store) and verified, then unpacked in a worker thread. ``log`` hears each layer."""
        import anyio

        say = log or (lambda data: None)
        manifest = await self.manifest(client, ref, platform, refresh)
        say(f"resolve {ref}@{manifest.digest}\n".encode())
        for layer in manifest.body["layers"]:
            size = f"{int(layer.get('size', 0)) / 1e6:.1f} MB"
            if self.store.exists(layer["digest"]):
                say(f"{layer['digest'][:19]} {size} in the store\n".encode())
                continue
            await client().fetch_blob(ref, layer["digest"], self.store)
            say(f"{layer['digest'][:19]} {size} fetched\n".encode())
        config = json.loads(self.store.read(manifest.body["config"]["digest"]))
        top = await anyio.to_thread.run_sync(self.unpack, manifest, config)
        say(f"unpacked {len(manifest.body['layers'])} layer(s)\n".encode())
        return top, config

    def unpack(self, manifest: oci.Document, config: dict[str, object]) -> str:
        """Unpack the manifest's layers (already in the store) into a snapshot chain; returns its top.
        One unpack at a time (they run in worker threads): a chain two images share is unpacked once."""
        with self._unpacking:
            return self._unpack(manifest, config)

    def _unpack(self, manifest: oci.Document, config: dict[str, object]) -> str:
        index = _load(self.index_path)
        parent: str | None = None
        chain = ""
        layers = manifest.body["layers"]
        rootfs = config.get("rootfs")
        diff_ids = list(rootfs.get("diff_ids") or []) if isinstance(rootfs, dict) else []
        for n, layer in enumerate(layers):
            diff_id = diff_ids[n] if n < len(diff_ids) else layer["digest"]
            chain = hashlib.sha256(f"{chain}/{diff_id}".encode()).hexdigest()
            known = index.get(chain)
            if known is not None and known in self.snapshots.ids() and self.snapshots.committed(known):
                parent = known
                continue
            data = decompress(self.store.read(layer["digest"]), layer.get("mediaType", ""))
            sid = self.snapshots.prepare(parent)
            try:
                # Applied through the mounted overlay, so a deletion of a lower file becomes an
                # overlay whiteout in this snapshot instead of silently doing nothing.
                with tempfile.TemporaryDirectory(dir=self.scratch) as mnt:
                    self.snapshots.mount(sid, mnt)
                    try:
                        apply_layer(io.BytesIO(data), mnt)
                    finally:
                        self.snapshots.unmount(mnt)
            except BaseException:
                self.snapshots.remove(sid)  # a layer that fails to apply leaves no half snapshot
                raise
            parent = self.snapshots.commit(sid)
            self.layers.record_unpacked(parent, oci.Descriptor.from_json(layer), diff_id)
            index[chain] = parent
            _save(self.index_path, index)
        if parent is None:
            parent = self.snapshots.commit(self.snapshots.prepare(None))
        return parent


def _load(path: str) -> dict[str, str]:
    try:
        with open(path) as f:
            data: dict[str, str] = json.load(f)
            return data
    except (OSError, ValueError):
        return {}


def _save(path: str, data: dict[str, str]) -> None:
    write_atomic(path, json.dumps(data, sort_keys=True).encode())
