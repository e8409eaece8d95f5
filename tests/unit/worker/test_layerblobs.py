"""Layer blobs of committed snapshots: made once per (snapshot, compression, level, epoch) and
remembered, a pulled layer's own blob reused, made blobs rebuilt byte for byte, and records of the
wrong shape read as misses."""

from __future__ import annotations

import gzip
import io
import json
import tarfile
from pathlib import Path

import pytest

from bake.content import oci
from bake.content.store import ContentStore
from bake.worker.layers import Layers
from tests.unit.worker.fakes import CopySnapshots


def layers_on(root: Path) -> tuple[Layers, CopySnapshots]:
    snaps = CopySnapshots(str(root))
    return Layers(str(root), ContentStore(str(root / "content")), snaps), snaps


def snapshot(snaps: CopySnapshots, parent: str | None, files: dict[str, str]) -> str:
    sid = snaps.prepare(parent)
    for path, text in files.items():
        full = Path(snaps.upper(sid), path)
        full.parent.mkdir(parents=True, exist_ok=True)
        full.write_text(text)
    return snaps.commit(sid)


def test_a_layer_holds_only_the_snapshots_own_changes(tmp_path: Path) -> None:
    layers, snaps = layers_on(tmp_path)
    base = snapshot(snaps, None, {"etc/os": "base"})
    top = snapshot(snaps, base, {"app/main": "code"})
    layer = layers.layer(top, epoch=0)
    assert layer.descriptor.media_type == oci.LAYER_GZIP
    with tarfile.open(fileobj=io.BytesIO(gzip.decompress(layers.store.read(layer.descriptor.digest)))) as t:
        assert t.getnames() == ["app", "app/main"]
    assert layer.diff_id.startswith("sha256:") and layer.diff_id != layer.descriptor.digest


def test_a_layer_is_made_once_and_remembered(tmp_path: Path) -> None:
    layers, snaps = layers_on(tmp_path)
    sid = snapshot(snaps, None, {"f": "x"})
    first = layers.layer(sid, "zstd", epoch=0)
    Path(snaps.upper(sid), "f").write_text("changed behind its back")  # a recorded blob is not made again
    again, _ = layers_on(tmp_path)
    assert again.layer(sid, "zstd", epoch=0) == first
    assert first.descriptor.media_type == oci.LAYER_ZSTD
    plain = layers.layer(sid, "uncompressed", epoch=0)
    assert plain.descriptor.media_type == oci.LAYER_TAR and plain.descriptor.digest == plain.diff_id


def test_a_made_layer_whose_blob_is_gone_is_made_again(tmp_path: Path) -> None:
    layers, snaps = layers_on(tmp_path)
    sid = snapshot(snaps, None, {"f": "x"})
    first = layers.layer(sid, epoch=0)
    layers.store.delete(first.descriptor.digest)
    assert layers.layer(sid, epoch=0) == first and layers.store.exists(first.descriptor.digest)


def test_rebuild_makes_the_same_bytes_for_a_made_blob_only(tmp_path: Path) -> None:
    layers, snaps = layers_on(tmp_path)
    sid = snapshot(snaps, None, {"f": "x"})
    made = layers.layer(sid, "gzip", 9, epoch=100)
    layers.store.delete(made.descriptor.digest)
    assert layers.rebuild(made.descriptor.digest)
    assert layers.store.verify(made.descriptor.digest)
    pulled = oci.Descriptor(oci.LAYER_GZIP, "sha256:" + "a" * 64, 10)
    other = snapshot(snaps, None, {"g": "y"})
    layers.record_unpacked(other, pulled, "sha256:" + "b" * 64)
    assert not layers.rebuild(pulled.digest)  # a registry's blob is fetched, never made


def test_a_pulled_layer_keeps_its_blob_unless_another_compression_is_forced(tmp_path: Path) -> None:
    layers, snaps = layers_on(tmp_path)
    sid = snapshot(snaps, None, {"f": "x"})
    blob = gzip.compress(b"the registry's bytes")
    digest = layers.store.write(blob)
    descriptor = oci.Descriptor(oci.LAYER_GZIP, digest, len(blob))
    layers.record_unpacked(sid, descriptor, "sha256:" + "c" * 64)
    assert layers.pulled(sid)
    assert layers.layer(sid, "zstd").descriptor == descriptor  # not forced: shared as pulled
    assert layers.layer(sid, "gzip", force=True).descriptor == descriptor  # already gzip
    forced = layers.layer(sid, "zstd", force=True)
    assert forced.descriptor.media_type == oci.LAYER_ZSTD and forced.descriptor.digest != digest


def test_an_unknown_compression_is_refused(tmp_path: Path) -> None:
    layers, snaps = layers_on(tmp_path)
    with pytest.raises(ValueError, match="unknown compression 'lz4'"):
        layers.layer(snapshot(snaps, None, {}), "lz4")


def test_forget_drops_the_records_of_pruned_snapshots(tmp_path: Path) -> None:
    layers, snaps = layers_on(tmp_path)
    a = snapshot(snaps, None, {"a": "1"})
    b = snapshot(snaps, None, {"b": "2"})
    layers.layer(a, epoch=0)
    layers.layer(b, epoch=0)
    layers.forget({a})
    assert [k.split(" ")[0] for k in json.loads(Path(layers.path).read_text())] == [b]


def test_records_of_the_wrong_shape_are_misses_and_reported(tmp_path: Path) -> None:
    layers, snaps = layers_on(tmp_path)
    sid = snapshot(snaps, None, {"f": "x"})
    good = layers.layer(sid, epoch=0)
    records = json.loads(Path(layers.path).read_text())
    (key,) = records
    records[key]["diff_id"] = "not a digest"
    records["12 lz4 None None"] = records[key]
    records["x"] = {}
    Path(layers.path).write_text(json.dumps(records))
    assert not layers.pulled(sid)
    again = layers.layer(sid, epoch=0)
    assert again == good  # made again from the snapshot, the same bytes
    assert any("damaged entries" in note for note in layers.store.repaired)
