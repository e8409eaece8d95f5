"""Images as snapshot chains: pull a reference for a platform, unpack each layer into its own
committed snapshot (reused when the same layer chain was unpacked before), and return the top.

The chain is keyed by the layers' diff IDs, so two images sharing their lower layers share
those snapshots, and a second pull of the same image unpacks nothing. What a tag resolved to (per
platform) is recorded in ``resolved.json``, so a rebuild uses the same image without asking the
registry, as BuildKit does; ``refresh`` (``--pull``) resolves again. Layers may be plain, gzip or zstd.

A stored manifest, config or layer found damaged (its bytes no longer match its digest) is dropped
and fetched again from the registry it came from; ``repair`` does the same for blobs an export
found damaged. Records of the wrong shape are misses.
"""

from __future__ import annotations

import hashlib
import io
import json
import tempfile
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from bake.content import oci
from bake.content.compression import decompress
from bake.content.jsonstate import is_descriptor, is_digest, load_map, save_map
from bake.content.stateroot import StateRoot
from bake.content.store import ContentError, ContentStore, CorruptContent
from bake.errors import BakeError
from bake.registry.reference import Reference
from bake.worker.layers import Layers
from bake.worker.snapshot import Snapshotter
from bake.worker.unpack import apply_layer

if TYPE_CHECKING:
    from bake.registry.client import RegistryClient


class ImageStore:
    def __init__(self, root: str, store: ContentStore, snapshots: Snapshotter) -> None:
        self.index_path = StateRoot(root).layers  # chain id → committed snapshot id
        self.resolved_path = StateRoot(root).resolved  # "ref platform" → manifest digest
        self.images_path = StateRoot(root).images  # bake's own image store (type=image outputs)
        self.store = store
        self.snapshots = snapshots
        self.layers = Layers(root, store, snapshots)  # an unpacked layer keeps its blob for image outputs
        self.scratch = snapshots.dir  # where layers are mounted to unpack: a build sets its own
        self._unpacking = threading.Lock()
        self._fetching: dict[str, Any] = {}  # blob digest → the lock of the one fetch of it

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
        config = manifest.body["config"]["digest"]
        if self.store.exists(config) and not self.store.verify(config):
            self.store.drop(config, f"the config of {ref}")
        await registry.fetch_blob(ref, config, self.store)
        resolved = _load(self.resolved_path, is_digest, self.store.repaired)
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
        digest = _load(self.resolved_path, is_digest, self.store.repaired).get(f"{ref} {platform}")
        if digest is None:
            return None
        manifest = self._document(digest, str(ref))
        return manifest if manifest is not None and self._whole(manifest, str(ref)) else None

    def built(self, ref: Reference, platform: oci.Platform) -> oci.Document | None:
        """The platform's manifest of an image in bake's own image store, if there is one."""
        images, _ = load_map(self.images_path,
                             lambda _k, v: is_descriptor(v), self.store.repaired)
        entry = images.get(str(ref))
        doc = self._document(entry["digest"], str(ref)) if entry else None
        if doc is not None and doc.media_type in oci.INDEX_TYPES:
            try:
                doc = self._document(oci.select(doc, platform).digest, str(ref))
            except (oci.OCIError, KeyError, TypeError, ValueError):
                return None
        return doc if doc is not None and self._whole(doc, str(ref)) else None

    def _document(self, digest: str, what: str) -> oci.Document | None:
        """A stored manifest or index; None when missing, damaged (then dropped) or not one."""
        try:
            doc = oci.parse(self.store.read(digest))
        except CorruptContent:
            self.store.drop(digest, f"a manifest of {what}")
            return None
        except (ContentError, oci.OCIError, KeyError, TypeError, ValueError):
            return None
        config = doc.body.get("config") if doc.media_type in oci.MANIFEST_TYPES else {}
        return doc if isinstance(config, dict) and (not config or is_digest(config.get("digest"))) else None

    def _whole(self, manifest: oci.Document, what: str) -> bool:
        """Whether the manifest's config is stored and whole (a damaged one is dropped)."""
        config = manifest.body["config"]["digest"]
        if not self.store.exists(config):
            return False
        if self.store.verify(config):
            return True
        self.store.drop(config, f"the config of {what}")
        return False

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
            # one fetch per blob, whatever names reach it (two tags of one image pull at once)
            lock = self._fetching.setdefault(layer["digest"], anyio.Lock())
            async with lock:
                if self.store.exists(layer["digest"]):
                    say(f"{layer['digest'][:19]} {size} in the store\n".encode())
                    continue
                await client().fetch_blob(ref, layer["digest"], self.store)
            say(f"{layer['digest'][:19]} {size} fetched\n".encode())
        config = json.loads(self.store.read(manifest.body["config"]["digest"]))
        repaired: set[str] = set()
        while True:
            try:
                top = await anyio.to_thread.run_sync(self.unpack, manifest, config)
                break
            except CorruptContent as err:  # a stored layer went bad: fetch it again, once
                if err.digest in repaired:
                    raise
                repaired.add(err.digest)
                self.store.drop(err.digest, f"a layer of {ref}")
                await client().fetch_blob(ref, err.digest, self.store)
                say(f"{err.digest[:19]} was damaged in the store: fetched again\n".encode())
        say(f"unpacked {len(manifest.body['layers'])} layer(s)\n".encode())
        return top, config

    def unpack(self, manifest: oci.Document, config: dict[str, object]) -> str:
        """Unpack the manifest's layers (already in the store) into a snapshot chain; returns its top.
        One unpack at a time (they run in worker threads): a chain two images share is unpacked once."""
        with self._unpacking:
            return self._unpack(manifest, config)

    def repair(self, err: CorruptContent) -> bool:
        """Drop the damaged blob of ``err`` and make it again: a layer this root made is rebuilt, a
        pulled one fetched again from an image that was resolved to it. Whether the same bytes are
        back (if not, the next export makes that layer anew, under another digest)."""
        self.store.drop(err.digest, "found while exporting")
        return self.layers.rebuild(err.digest) or self._refetch(err.digest)

    def _refetch(self, digest: str) -> bool:
        import anyio

        from bake.registry.client import RegistryError, default_client
        from bake.registry.reference import parse_reference

        for key, manifest_digest in _load(self.resolved_path, is_digest, self.store.repaired).items():
            doc = self._document(manifest_digest, key)
            layers = doc.body.get("layers") if doc is not None else None
            if not isinstance(layers, list) or digest not in {x.get("digest") for x in layers if isinstance(x, dict)}:
                continue

            async def fetch(name: str = key.rpartition(" ")[0]) -> None:
                client = default_client()
                try:
                    await client.fetch_blob(parse_reference(name), digest, self.store)
                finally:
                    await client.aclose()

            try:
                anyio.run(fetch)
            except (BakeError, RegistryError, OSError, RuntimeError):  # RuntimeError: called in a loop
                continue
            return True
        return False

    def _unpack(self, manifest: oci.Document, config: dict[str, object]) -> str:
        index = _load(self.index_path, str.isdigit, self.store.repaired)
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


def _load(path: str, valid: Callable[[str], bool], notes: list[str] | None = None) -> dict[str, str]:
    """A ``str → str`` record; entries of another shape are left out (misses)."""
    data, _ = load_map(path, lambda _k, v: isinstance(v, str) and valid(v), notes)
    return data


def _save(path: str, data: dict[str, str]) -> None:
    save_map(path, data)
