"""``cache-from``: a cache key's layer chain restored from an OCI layout directory or a registry
(bake's cache manifest, or an image's inline cache), fetching only the blobs that key needs, healing
a damaged stored copy from the source, and missing — never failing — where there is nothing."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import anyio

from bake.content import oci
from bake.content.store import ContentStore
from bake.registry.reference import parse_reference
from bake.worker.images import ImageStore
from bake.worker.layers import Layer
from bake.worker.remotecache import CACHE_CONFIG, ImportedCache, LocalSource, RegistrySource, cache_config
from tests.unit.worker.fakes import CopySnapshots
from tests.unit.worker.registryfake import FakeRegistry, digest, layer_tar

CACHE_REF = str(parse_reference("registry.example/app:cache"))


def blob_layer(files: dict[str, str]) -> tuple[Layer, bytes]:
    tar = layer_tar(files)
    blob = gzip.compress(tar, mtime=0)
    return Layer(oci.Descriptor(oci.LAYER_GZIP, digest(blob), len(blob)), digest(tar)), blob


BASE, BASE_BLOB = blob_layer({"bin/sh": "shell"})
APP, APP_BLOB = blob_layer({"app": "built"})
OTHER, OTHER_BLOB = blob_layer({"other": "x"})
ENTRIES = {"sha256:app": [BASE, APP], "sha256:other": [BASE, OTHER]}


def oci_layout(d: Path, tag: str = "latest") -> Path:
    """An OCI layout holding the cache of ENTRIES under ``tag``."""
    blobs = d / "blobs" / "sha256"
    blobs.mkdir(parents=True)
    config = cache_config(ENTRIES)
    layers = [BASE.descriptor, APP.descriptor, OTHER.descriptor]
    manifest = oci.manifest(oci.Descriptor(CACHE_CONFIG, config.digest, len(config.raw)), layers)
    for data in (config.raw, manifest.raw, BASE_BLOB, APP_BLOB, OTHER_BLOB):
        (blobs / digest(data).partition(":")[2]).write_bytes(data)
    index = {"schemaVersion": 2, "manifests": [
        {**manifest.descriptor().to_json(), "annotations": {"org.opencontainers.image.ref.name": tag}}]}
    (d / "index.json").write_text(json.dumps(index))
    return d


def image_store(root: Path) -> tuple[ImageStore, CopySnapshots]:
    snaps = CopySnapshots(str(root))
    return ImageStore(str(root), ContentStore(str(root / "content")), snaps), snaps


def test_the_cache_config_lists_each_layer_once_and_each_keys_chain(tmp_path: Path) -> None:
    body = cache_config(ENTRIES).body
    assert [x["digest"] for x in body["layers"]] == [BASE.descriptor.digest, APP.descriptor.digest,
                                                     OTHER.descriptor.digest]
    assert body["keys"] == {"sha256:app": [0, 1], "sha256:other": [0, 2]}
    assert body["layers"][1]["diff_id"] == APP.diff_id


def test_a_key_is_restored_from_a_local_layout_with_only_its_blobs(tmp_path: Path) -> None:
    images, snaps = image_store(tmp_path / "root")
    imported = ImportedCache(images, [LocalSource(str(oci_layout(tmp_path / "cache")))])
    sid = anyio.run(imported.fetch, "sha256:app")
    assert sid is not None and snaps.tree(sid) == {"/bin/sh": b"shell", "/app": b"built"}
    assert not images.store.exists(OTHER.descriptor.digest)  # another key's layer is not copied
    assert imported.fetched == 1 and imported.failures == []
    assert anyio.run(imported.fetch, "sha256:unknown") is None
    again = anyio.run(imported.fetch, "sha256:other")
    assert again is not None and snaps.parent(again) == snaps.parent(sid)  # the base layer is shared


def test_a_tag_selects_the_cache_in_a_layout(tmp_path: Path) -> None:
    images, _ = image_store(tmp_path / "root")
    layout = oci_layout(tmp_path / "cache", tag="v1")
    assert anyio.run(LocalSource(str(layout), "v2").config, images) is None
    config = anyio.run(LocalSource(str(layout), "v1").config, images)
    assert config is not None and set(config["keys"]) == {"sha256:app", "sha256:other"}
    assert anyio.run(LocalSource(str(tmp_path / "no-such-dir")).config, images) is None  # a first build


def test_a_damaged_stored_layer_is_taken_from_the_source_again(tmp_path: Path) -> None:
    images, snaps = image_store(tmp_path / "root")
    images.store.write(APP_BLOB)
    path = Path(images.store.path(APP.descriptor.digest))
    path.chmod(0o644)
    path.write_bytes(b"rotten")
    imported = ImportedCache(images, [LocalSource(str(oci_layout(tmp_path / "cache")))])
    sid = anyio.run(imported.fetch, "sha256:app")
    assert sid is not None and snaps.tree(sid)["/app"] == b"built"
    assert any(APP.descriptor.digest in note for note in images.store.repaired)


def test_a_source_missing_a_blob_is_a_miss_with_a_reason_and_the_next_source_is_asked(tmp_path: Path) -> None:
    images, snaps = image_store(tmp_path / "root")
    broken = oci_layout(tmp_path / "broken")
    (broken / "blobs" / "sha256" / APP.descriptor.digest.partition(":")[2]).unlink()
    imported = ImportedCache(images, [LocalSource(str(broken)), LocalSource(str(oci_layout(tmp_path / "good")))])
    sid = anyio.run(imported.fetch, "sha256:app")
    assert sid is not None and snaps.tree(sid)["/app"] == b"built"
    assert len(imported.failures) == 1 and imported.failures[0].startswith("cache-from #1:")


def registry_with_cache(registry: FakeRegistry) -> None:
    config = cache_config(ENTRIES)
    for data in (config.raw, BASE_BLOB, APP_BLOB, OTHER_BLOB):
        registry.blobs[digest(data)] = data
    registry.manifests[CACHE_REF] = oci.manifest(oci.Descriptor(CACHE_CONFIG, config.digest, len(config.raw)),
                                                 [BASE.descriptor, APP.descriptor, OTHER.descriptor])


def test_a_key_is_restored_from_a_registrys_cache_manifest(tmp_path: Path) -> None:
    registry = FakeRegistry()
    registry_with_cache(registry)
    images, snaps = image_store(tmp_path / "root")
    imported = ImportedCache(images, [RegistrySource(CACHE_REF, registry.client)])  # type: ignore[arg-type]
    sid = anyio.run(imported.fetch, "sha256:app")
    assert sid is not None and snaps.tree(sid) == {"/bin/sh": b"shell", "/app": b"built"}
    assert OTHER.descriptor.digest not in registry.fetched
    assert anyio.run(imported.fetch, "sha256:app") is not None
    assert registry.calls["manifest"] == 1  # the cache's manifest is read once per build


def test_an_images_inline_cache_is_read_from_every_platform_of_its_index(tmp_path: Path) -> None:
    registry = FakeRegistry()
    amd = registry.image("amd", {"bin/sh": "amd64 shell"},
                         config={"architecture": "amd64", oci.INLINE_CACHE: {"keys": {"sha256:amd": [0]}}})
    arm = registry.image("arm", {"bin/sh": "arm64 shell"},
                         config={"architecture": "arm64", oci.INLINE_CACHE: {"keys": {"sha256:arm": [0]}}})
    registry.manifests[CACHE_REF] = oci.index([amd.descriptor(oci.Platform("linux", "amd64")),
                                               arm.descriptor(oci.Platform("linux", "arm64"))])
    images, snaps = image_store(tmp_path / "root")
    imported = ImportedCache(images, [RegistrySource(CACHE_REF, registry.client)])  # type: ignore[arg-type]
    arm_sid = anyio.run(imported.fetch, "sha256:arm")
    amd_sid = anyio.run(imported.fetch, "sha256:amd")
    assert arm_sid is not None and snaps.tree(arm_sid) == {"/bin/sh": b"arm64 shell"}
    assert amd_sid is not None and snaps.tree(amd_sid) == {"/bin/sh": b"amd64 shell"}


def test_a_registry_without_the_cache_is_a_miss(tmp_path: Path) -> None:
    registry = FakeRegistry()
    registry.image(CACHE_REF, {"f": "an image without inline cache"})
    images, _ = image_store(tmp_path / "root")
    plain = ImportedCache(images, [RegistrySource(CACHE_REF, registry.client)])  # type: ignore[arg-type]
    assert anyio.run(plain.fetch, "sha256:app") is None
    absent = ImportedCache(images, [RegistrySource("registry.example/none:cache", registry.client)])  # type: ignore[arg-type]
    assert anyio.run(absent.fetch, "sha256:app") is None and absent.failures == []  # a first build
