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

import contextlib
import hashlib
import json
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from bake.content import oci
from bake.content.compression import Blob
from bake.content.jsonstate import is_descriptor, is_digest, load_map, save_map
from bake.content.stateroot import StateRoot
from bake.content.store import ContentError, ContentStore, CorruptContent, DownloadAbandoned
from bake.errors import BakeError, ungrouped
from bake.registry.reference import Reference
from bake.worker.layers import Layers
from bake.worker.snapshot import Snapshotter
from bake.worker.unpack import apply_blob

if TYPE_CHECKING:
    import anyio

    from bake.content.ingest import Ingest
    from bake.registry.client import RegistryClient

DOWNLOADS = 4  # blobs downloading at once per root and process (containerd's default is 3)


class ImageStore:
    def __init__(self, root: str, store: ContentStore, snapshots: Snapshotter) -> None:
        self.index_path = StateRoot(root).layers  # chain id → committed snapshot id
        self.resolved_path = StateRoot(root).resolved  # "ref platform" → manifest digest
        self.roots_path = StateRoot(root).resolved_roots  # "ref platform manifest" → the index digest it came from
        self.images_path = StateRoot(root).images  # bake's own image store (type=image outputs)
        self.store = store
        self.snapshots = snapshots
        self.layers = Layers(root, store, snapshots)  # an unpacked layer keeps its blob for image outputs
        self.scratch = snapshots.dir  # where layers are mounted to unpack: a build sets its own
        self._index = threading.Lock()  # guards the chain index file and the chain locks
        self._chains: dict[str, threading.Lock] = {}  # chain ID → the lock of its one unpack
        self._ingests: dict[str, Ingest] = {}  # blob digest → its download under way (one per blob)
        self._downloads: anyio.CapacityLimiter | None = None  # made in the event loop, on first use

    async def manifest(self, client: Callable[[], RegistryClient], ref: Reference, platform: oci.Platform,
                       refresh: bool = False, own: bool = True) -> oci.Document:
        """The image manifest of ``ref`` for ``platform`` with its config blob in the store. A
        reference resolved before is taken from the record, without a request, unless ``refresh``.
        ``client`` is called only when the registry must be asked (a warm build never makes one).
        ``own=False``: never an image of bake's own store (a BuildKit daemon cannot see those)."""
        recorded = None if refresh else self.recorded(ref, platform, own)
        if recorded is not None:
            return recorded
        key = f"{ref} {platform}"
        registry = client()
        manifest, top = await registry.resolve(ref, platform)
        if top != manifest.digest:  # keyed by the manifest too: a record never pairs an index with another's manifest
            roots = {k: v for k, v in _load(self.roots_path, is_digest).items() if not k.startswith(key + " ")}
            roots[f"{key} {manifest.digest}"] = top
            _save(self.roots_path, roots)
        self.store.write(manifest.raw)
        config = manifest.body["config"]["digest"]
        if self.store.exists(config) and not self.store.verify(config):
            self.store.drop(config, f"the config of {ref}")
        await registry.fetch_blob(ref, config, self.store)
        resolved = _load(self.resolved_path, is_digest, self.store.repaired)
        resolved[key] = manifest.digest
        _save(self.resolved_path, resolved)
        return manifest

    def recorded(self, ref: Reference, platform: oci.Platform, own: bool = True) -> oci.Document | None:
        """The manifest ``ref`` resolved to before for ``platform``, if it and its config are stored.
        An image bake built with ``type=image`` under that name (``images.json``) comes first, as a
        local image does for ``docker build`` (``--pull`` asks the registry instead), unless not ``own``."""
        local = self.built(ref, platform) if own else None
        if local is not None:
            return local
        digest = _load(self.resolved_path, is_digest, self.store.repaired).get(f"{ref} {platform}")
        if digest is None:
            return None
        manifest = self._document(digest, str(ref))
        return manifest if manifest is not None and self._whole(manifest, str(ref)) else None

    def pin(self, ref: Reference, platform: oci.Platform, manifest: oci.Document) -> str:
        """The digest to pin ``ref`` to so that it means ``manifest`` for ``platform``: the digest the
        reference resolved to when it gave that manifest (its index's, as BuildKit's frontend pins),
        else the manifest's own."""
        return _load(self.roots_path, is_digest).get(f"{ref} {platform} {manifest.digest}", manifest.digest)

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
                     refresh: bool = False, own: bool = True) -> tuple[dict[str, object], str]:
        """The image config document (no layers are fetched) and the digest that pins ``ref`` to it (``pin``)."""
        manifest = await self.manifest(client, ref, platform, refresh, own)
        config: dict[str, object] = json.loads(self.store.read(manifest.body["config"]["digest"]))
        return config, self.pin(ref, platform, manifest)

    async def pull(self, client: Callable[[], RegistryClient], ref: Reference, platform: oci.Platform,
                   refresh: bool = False, log: Callable[[bytes], None] | None = None) -> tuple[str, dict[str, object]]:
        """(top snapshot id, image config) of ``ref`` for ``platform``. Layers not unpacked before are
        fetched at once, in parallel, each hashed into the store as it arrives, and unpacked in order,
        each onto its parent, while they download: a layer's snapshot is committed only after its
        blob's digest and its diff ID checked out. ``log`` hears what each layer took."""
        say = log or (lambda data: None)
        manifest = await self.manifest(client, ref, platform, refresh)
        say(f"resolve {ref}@{manifest.digest}\n".encode())
        config = json.loads(self.store.read(manifest.body["config"]["digest"]))
        layers = _layers(manifest, config)
        repaired: set[str] = set()
        while True:
            try:
                with ungrouped():
                    top = await self._pull(client, ref, layers, say)
                break
            except CorruptContent as err:  # a stored layer went bad: fetch it again, once
                if err.digest in repaired:
                    raise
                repaired.add(err.digest)
                self.store.drop(err.digest, f"a layer of {ref}")
                say(f"{err.digest[:19]} was damaged in the store: fetched again\n".encode())
        say(f"unpacked {len(layers)} layer(s)\n".encode())
        return top, config

    async def _pull(self, client: Callable[[], RegistryClient], ref: Reference, layers: list[_Layer],
                    say: Callable[[bytes], None]) -> str:
        import anyio

        async with anyio.create_task_group() as tg:
            def fetch(layer: _Layer) -> Ingest:
                ingest = self._ingests[layer.digest] = self.store.ingesting(layer.digest, layer.size)
                tg.start_soon(self._download, client, ref, layer, ingest, say)
                return ingest

            index = _load(self.index_path, str.isdigit, self.store.repaired)
            for layer in layers:  # every download starts now; the unpacks below follow them in order
                if index.get(layer.chain) is not None:
                    say(f"{layer.digest[:19]} {layer.mb} unpacked before\n".encode())
                elif self.store.exists(layer.digest):
                    say(f"{layer.digest[:19]} {layer.mb} in the store\n".encode())
                elif layer.digest in self._ingests:  # one download per blob, whatever names reach it
                    say(f"{layer.digest[:19]} {layer.mb} shared with another pull\n".encode())
                else:
                    fetch(layer)
            parent: str | None = None
            for layer in layers:
                known = self._known(layer.chain)
                parent = known if known is not None else await self._unpack_following(parent, layer, fetch, say)
        return parent if parent is not None else self.snapshots.commit(self.snapshots.prepare(None))

    async def _unpack_following(self, parent: str | None, layer: _Layer, fetch: Callable[[_Layer], Ingest],
                                say: Callable[[bytes], None]) -> str:
        """Unpack ``layer`` as its blob arrives. A download that stops unfinished was another pull's,
        cancelled (its task group is not ours, so it cannot go on): this pull downloads the blob
        itself. Our own stops only when we are cancelled too, which the checkpoint raises."""
        import anyio

        while True:
            reader = self._reader(layer, fetch)
            try:
                return await anyio.to_thread.run_sync(self._unpack_layer, parent, layer, reader)
            except DownloadAbandoned:
                await anyio.lowlevel.checkpoint_if_cancelled()
                say(f"{layer.digest[:19]} {layer.mb} taken over from a stopped pull\n".encode())

    async def _download(self, client: Callable[[], RegistryClient], ref: Reference, layer: _Layer, ingest: Ingest,
                        say: Callable[[bytes], None]) -> None:
        import anyio

        if self._downloads is None:
            self._downloads = anyio.CapacityLimiter(DOWNLOADS)
        try:
            async with self._downloads:
                await client().download_blob(ref, layer.digest, ingest)
            await anyio.to_thread.run_sync(ingest.commit)
        finally:
            ingest.abort()  # after a failure or a cancellation: whoever follows it hears at once
            if self._ingests.get(layer.digest) is ingest:
                del self._ingests[layer.digest]
        say(f"{layer.digest[:19]} {layer.mb} fetched\n".encode())

    def _reader(self, layer: _Layer, fetch: Callable[[_Layer], Ingest]) -> Blob:
        """The layer's blob: following its download, from the store (checked as it is read), or
        from a download started now (another pull's download of it failed)."""
        ingest = self._ingests.get(layer.digest)
        if ingest is not None:
            with contextlib.suppress(ContentError):  # it failed: the store or a download of our own
                return ingest.follow()
        if self.store.exists(layer.digest):
            return self.store.open(layer.digest, layer.size)
        return fetch(layer).follow()

    def unpack(self, manifest: oci.Document, config: dict[str, object]) -> str:
        """Unpack the manifest's layers (already in the store) into a snapshot chain; returns its top."""
        parent: str | None = None
        for layer in _layers(manifest, config):
            known = self._known(layer.chain)
            parent = known if known is not None else self._unpack_layer(
                parent, layer, self.store.open(layer.digest, layer.size))
        return parent if parent is not None else self.snapshots.commit(self.snapshots.prepare(None))

    def _unpack_layer(self, parent: str | None, layer: _Layer, blob: Blob) -> str:
        """Apply one layer onto ``parent`` as a new committed snapshot (in a worker thread). One
        unpack per chain at a time: a chain another pull unpacked meanwhile is taken as it is."""
        with contextlib.closing(blob), self._chain_lock(layer.chain):
            known = self._known(layer.chain)
            if known is not None:
                return known
            sid = self.snapshots.prepare(parent)
            try:
                # Applied through the mounted overlay, so a deletion of a lower file becomes an
                # overlay whiteout in this snapshot instead of silently doing nothing.
                with tempfile.TemporaryDirectory(dir=self.scratch) as mnt:
                    self.snapshots.mount(sid, mnt)
                    try:
                        apply_blob(blob, mnt, layer.media_type, layer.diff_id)
                    finally:
                        self.snapshots.unmount(mnt)
            except BaseException:
                self.snapshots.remove(sid)  # a layer that fails to apply or to verify leaves no half snapshot
                raise
            top = self.snapshots.commit(sid)
            self.layers.record_unpacked(top, oci.Descriptor.from_json(layer.descriptor), layer.diff_id or layer.digest)
            with self._index:
                index = _load(self.index_path, str.isdigit, self.store.repaired)
                index[layer.chain] = top
                _save(self.index_path, index)
            return top

    def _known(self, chain: str) -> str | None:
        """The committed snapshot of a layer chain unpacked before, if it is whole."""
        known = _load(self.index_path, str.isdigit, self.store.repaired).get(chain)
        return known if known is not None and self.snapshots.committed(known) else None

    def _chain_lock(self, chain: str) -> threading.Lock:
        with self._index:
            return self._chains.setdefault(chain, threading.Lock())

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

def _load(path: str, valid: Callable[[str], bool], notes: list[str] | None = None) -> dict[str, str]:
    """A ``str → str`` record; entries of another shape are left out (misses)."""
    data, _ = load_map(path, lambda _k, v: isinstance(v, str) and valid(v), notes)
    return data


def _save(path: str, data: dict[str, str]) -> None:
    save_map(path, data)


@dataclass(frozen=True, slots=True)
class _Layer:
    """One layer of a manifest and where it sits: its chain ID names the whole stack up to it."""

    descriptor: dict[str, Any]
    diff_id: str | None  # the config's; None when the config names none (then not checked)
    chain: str

    @property
    def digest(self) -> str:
        return str(self.descriptor["digest"])

    @property
    def media_type(self) -> str:
        return str(self.descriptor.get("mediaType", ""))

    @property
    def size(self) -> int | None:
        size = self.descriptor.get("size")
        return size if isinstance(size, int) and not isinstance(size, bool) and size >= 0 else None

    @property
    def mb(self) -> str:
        return f"{(self.size or 0) / 1e6:.1f} MB"


def _layers(manifest: oci.Document, config: dict[str, object]) -> list[_Layer]:
    rootfs = config.get("rootfs")
    diff_ids = list(rootfs.get("diff_ids") or []) if isinstance(rootfs, dict) else []
    out, chain = [], ""
    for n, layer in enumerate(manifest.body["layers"]):
        diff_id = diff_ids[n] if n < len(diff_ids) and is_digest(diff_ids[n]) else None
        chain = hashlib.sha256(f"{chain}/{diff_id or layer['digest']}".encode()).hexdigest()
        out.append(_Layer(layer, diff_id, chain))
    return out
