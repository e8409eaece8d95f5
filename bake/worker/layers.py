"""Layer blobs of committed snapshots, for image outputs.

A snapshot unpacked from a pulled image keeps that image's own blob (recorded at unpack), so an
exported image shares its base layers byte for byte with the base, as BuildKit does. Any other
snapshot becomes a deterministic diff of its upper directory against its parent's view (copied-up
directories that did not change are left out), compressed as asked, stored in the content store
and remembered in ``layerblobs.json`` so the next export reuses it. ``SOURCE_DATE_EPOCH`` clamps
file times in the layers it makes, so two clean builds give the same bytes.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import tempfile
import threading

from bake._record import record
from bake.content import oci
from bake.content.atomic import write_atomic
from bake.content.compression import compress
from bake.content.store import ContentStore
from bake.worker.differ import write_layer
from bake.worker.snapshot import Snapshotter

MEDIA_TYPES = {"gzip": oci.LAYER_GZIP, "zstd": oci.LAYER_ZSTD, "uncompressed": oci.LAYER_TAR}


@record
class Layer:
    descriptor: oci.Descriptor
    diff_id: str


class Layers:
    def __init__(self, root: str, store: ContentStore, snapshots: Snapshotter) -> None:
        self.path = os.path.join(root, "layerblobs.json")
        self.store = store
        self.snapshots = snapshots
        self.lock = threading.Lock()
        # where parent views are mounted while diffing: a build sets its own scratch directory, so
        # a killed build's mounts are found and taken down by the next (recovery.py)
        self.scratch = snapshots.dir

    def record_unpacked(self, sid: str, descriptor: oci.Descriptor, diff_id: str) -> None:
        """Remember that ``sid`` is the unpacked ``descriptor`` of a pulled image."""
        self._save(sid, Layer(descriptor, diff_id))

    def pulled(self, sid: str) -> bool:
        """Whether ``sid`` is a layer unpacked from a pulled image."""
        return sid in self._load()

    def layer(self, sid: str, compression: str = "gzip", level: int | None = None, epoch: int | None = None,
              force: bool = False) -> Layer:
        """The blob of one snapshot's own changes. ``force`` recompresses a pulled blob too."""
        if compression not in MEDIA_TYPES:
            raise ValueError(f"unknown compression {compression!r} (gzip, zstd, uncompressed)")
        known = self._load()
        pulled = known.get(sid)
        if pulled is not None and self.store.exists(pulled.descriptor.digest) and (
                not force or pulled.descriptor.media_type == MEDIA_TYPES[compression]):
            return pulled
        key = f"{sid} {compression} {level} {epoch}"
        made = known.get(key)
        if made is not None and self.store.exists(made.descriptor.digest):
            return made
        layer = self._diff(sid, compression, level, epoch)
        self._save(key, layer)
        return layer

    def _diff(self, sid: str, compression: str, level: int | None, epoch: int | None) -> Layer:
        parent = self.snapshots.parent(sid)
        with contextlib.ExitStack() as stack:
            lower = None
            if parent is not None:
                lower = tempfile.mkdtemp(prefix="lower-", dir=self.scratch)
                stack.callback(os.rmdir, lower)
                self.snapshots.mount(parent, lower, readonly=True)
                stack.callback(self.snapshots.unmount, lower)
            tar = io.BytesIO()  # compression needs it whole anyway: no temp file to write and read back
            write_layer(self.snapshots.upper(sid), tar, source_date_epoch=epoch, lower=lower)
            data = tar.getvalue()
        diff_id = "sha256:" + hashlib.sha256(data).hexdigest()
        blob = compress(data, compression, level) if compression != "uncompressed" else data
        digest = self.store.write(blob)
        return Layer(oci.Descriptor(MEDIA_TYPES[compression], digest, len(blob)), diff_id)

    def _load(self) -> dict[str, Layer]:
        try:
            with open(self.path) as f:
                raw = json.load(f)
        except (OSError, ValueError):
            return {}
        return {k: Layer(oci.Descriptor.from_json(v["descriptor"]), v["diff_id"]) for k, v in raw.items()}

    def _save(self, key: str, layer: Layer) -> None:
        with self.lock:
            try:
                with open(self.path) as f:
                    raw = json.load(f)
            except (OSError, ValueError):
                raw = {}
            raw[key] = {"descriptor": layer.descriptor.to_json(), "diff_id": layer.diff_id}
            write_atomic(self.path, json.dumps(raw, sort_keys=True).encode())
