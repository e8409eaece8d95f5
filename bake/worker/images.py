"""Images as snapshot chains: pull a reference for a platform, unpack each layer into its own
committed snapshot (reused when the same layer chain was unpacked before), and return the top.

The chain is keyed by the layers' diff IDs, so two images sharing their lower layers share
those snapshots, and a second pull of the same image unpacks nothing.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import tempfile

from bake.content import oci
from bake.content.store import ContentStore
from bake.registry.client import RegistryClient
from bake.registry.reference import Reference
from bake.worker.snapshot import Snapshotter
from bake.worker.unpack import apply_layer


class ImageStore:
    def __init__(self, root: str, store: ContentStore, snapshots: Snapshotter) -> None:
        self.index_path = os.path.join(root, "layers.json")  # chain id → committed snapshot id
        self.store = store
        self.snapshots = snapshots

    def _index(self) -> dict[str, str]:
        try:
            with open(self.index_path) as f:
                data: dict[str, str] = json.load(f)
                return data
        except (OSError, ValueError):
            return {}

    def _save(self, index: dict[str, str]) -> None:
        tmp = self.index_path + ".tmp"
        with open(tmp, "w") as f:
            json.dump(index, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.index_path)

    async def pull(self, client: RegistryClient, ref: Reference, platform: oci.Platform) -> tuple[str, dict[str, object]]:
        """(top snapshot id, image config) of ``ref`` for ``platform``; layers are fetched and verified."""
        manifest = await client.pull(ref, platform, self.store)
        config = json.loads(self.store.read(manifest.body["config"]["digest"]))
        return self.unpack(manifest, config), config

    def unpack(self, manifest: oci.Document, config: dict[str, object]) -> str:
        """Unpack the manifest's layers (already in the store) into a snapshot chain; returns its top."""
        index = self._index()
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
            sid = self.snapshots.prepare(parent)
            data = self.store.read(layer["digest"])
            if layer.get("mediaType", "").endswith("gzip") or data[:2] == b"\x1f\x8b":
                data = gzip.decompress(data)
            # Applied through the mounted overlay, so a deletion of a lower file becomes an overlay
            # whiteout in this snapshot instead of silently doing nothing.
            with tempfile.TemporaryDirectory(dir=self.snapshots.dir) as mnt:
                self.snapshots.mount(sid, mnt)
                try:
                    apply_layer(io.BytesIO(data), mnt)
                finally:
                    self.snapshots.unmount(mnt)
            parent = self.snapshots.commit(sid)
            index[chain] = parent
            self._save(index)
        if parent is None:
            parent = self.snapshots.commit(self.snapshots.prepare(None))
        return parent
