"""Layer blobs of committed snapshots, for image outputs.

A snapshot unpacked from a pulled image keeps that image's own blob (recorded at unpack), so an
exported image shares its base layers byte for byte with the base, as BuildKit does. Any other
snapshot becomes a deterministic diff of its upper directory against its parent's view (copied-up
directories that did not change are left out), compressed as asked, stored in the content store
and remembered in ``layerblobs.json`` so the next export reuses it. ``SOURCE_DATE_EPOCH`` clamps
file times in the layers it makes, so two clean builds give the same bytes — which is also how a
made blob found damaged is rebuilt under its own digest (``rebuild``). Entries of the wrong shape
in ``layerblobs.json`` are misses.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import tempfile
import threading

from bake._record import record, replace
from bake.content import oci
from bake.content.compression import compress
from bake.content.jsonstate import is_descriptor, is_digest, load_map, save_map
from bake.content.stateroot import StateRoot
from bake.content.store import ContentStore
from bake.worker.differ import write_layer
from bake.worker.snapshot import Snapshotter

MEDIA_TYPES = {"gzip": oci.LAYER_GZIP, "zstd": oci.LAYER_ZSTD, "uncompressed": oci.LAYER_TAR}
REWRITTEN_TIMESTAMP = "buildkit/rewritten-timestamp"


@record
class Layer:
    descriptor: oci.Descriptor
    diff_id: str


class Layers:
    def __init__(self, root: str, store: ContentStore, snapshots: Snapshotter) -> None:
        self.path = StateRoot(root).layerblobs
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
        sid = self.snapshots.layer_of(sid) or sid
        key = f"{sid} {compression} {level} {epoch}"
        made = known.get(key)
        if made is None or not self.store.exists(made.descriptor.digest):
            made = self._diff(sid, compression, level, epoch)
            self._save(key, made)
        if epoch is None:
            return made
        # a layer whose times were clamped says so, as BuildKit annotates the layers it rewrote
        # (pulled ones are left as they are, as BuildKit leaves the base image's)
        stamped = (*made.descriptor.annotations, (REWRITTEN_TIMESTAMP, str(epoch)))
        return Layer(replace(made.descriptor, annotations=stamped), made.diff_id)

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

    def rebuild(self, digest: str) -> bool:
        """Make a blob this class made before again (after a damaged copy was dropped); whether the
        same bytes came back. Blobs of pulled layers are not made here (they come from a registry)."""
        for key, layer in self._load().items():
            sid, _, rest = key.partition(" ")
            if layer.descriptor.digest != digest or not rest or not self.snapshots.committed(sid):
                continue
            compression, level, epoch = rest.split(" ")
            again = self._diff(sid, compression, None if level == "None" else int(level),
                               None if epoch == "None" else int(epoch))
            if again.descriptor.digest == digest:
                return True
        return False

    def forget(self, sids: set[str]) -> None:
        """Drop the records of snapshots that are gone (prune)."""
        with self.lock:
            raw, _ = load_map(self.path, _valid, self.store.repaired)
            save_map(self.path, {k: v for k, v in raw.items() if k.partition(" ")[0] not in sids})

    def _load(self) -> dict[str, Layer]:
        raw, _ = load_map(self.path, _valid, self.store.repaired)
        return {k: Layer(oci.Descriptor.from_json(v["descriptor"]), v["diff_id"]) for k, v in raw.items()}

    def _save(self, key: str, layer: Layer) -> None:
        with self.lock:
            raw, _ = load_map(self.path, _valid, self.store.repaired)
            raw[key] = {"descriptor": layer.descriptor.to_json(), "diff_id": layer.diff_id}
            save_map(self.path, raw)


def _valid(key: str, value: object) -> bool:
    """``"<sid>"`` (a pulled layer) or ``"<sid> <compression> <level> <epoch>"`` → descriptor, diff ID."""
    parts = key.split(" ")
    return (isinstance(value, dict) and is_descriptor(value.get("descriptor")) and is_digest(value.get("diff_id"))
            and parts[0].isdigit() and (len(parts) == 1 or (len(parts) == 4 and parts[1] in MEDIA_TYPES
                                                            and _number(parts[2]) and _number(parts[3]))))


def _number(text: str) -> bool:
    return text == "None" or text.lstrip("-").isdigit()
