"""The digest an image reference is pinned to on a BuildKit builder: the one whose config bake
used, spelled as BuildKit's frontend pins (the digest the tag resolved to: an index's)."""

from __future__ import annotations

import json
from pathlib import Path

import anyio

from bake.content import oci
from bake.content.store import ContentStore
from bake.registry.reference import parse_reference
from bake.worker.imageconfigs import RegistryConfigs
from bake.worker.images import ImageStore
from tests.unit.worker.fakes import CopySnapshots
from tests.unit.worker.registryfake import FakeRegistry

AMD64 = oci.Platform("linux", "amd64")
BASE = str(parse_reference("127.0.0.1:5000/pin/base:v1"))
INDEX_A, INDEX_B = "sha256:" + "a" * 64, "sha256:" + "b" * 64  # the tag's index before and after it moved


def store_on(root: Path) -> ImageStore:
    return ImageStore(str(root), ContentStore(str(root / "content")), CopySnapshots(str(root)))


def configs(images: ImageStore, registry: FakeRegistry, refresh: bool = False, own: bool = True) -> RegistryConfigs:
    return RegistryConfigs(images, registry.client, refresh=refresh, own=own)  # type: ignore[arg-type]


def test_a_tag_behind_an_index_is_pinned_to_the_index_it_resolved_to(tmp_path: Path) -> None:
    registry = FakeRegistry(roots={BASE: INDEX_A})
    registry.image(BASE, {"which": "A"}, config={"config": {"Env": ["WHICH=A"]}})
    images = store_on(tmp_path)
    first = configs(images, registry)
    assert first.resolve(BASE, "linux/amd64").env == ("WHICH=A",)
    assert first.pins == {(BASE, "linux/amd64"): INDEX_A}
    again = configs(images, registry)  # a later build: from the record, no registry
    calls = registry.calls["resolve"]
    assert again.resolve(BASE, "linux/amd64").env == ("WHICH=A",) and again.pins == first.pins
    assert registry.calls["resolve"] == calls


def test_a_tag_that_moved_keeps_its_recorded_config_and_pin_until_pull(tmp_path: Path) -> None:
    registry = FakeRegistry(roots={BASE: INDEX_A})
    registry.image(BASE, {"which": "A"}, config={"config": {"Env": ["WHICH=A"]}})
    images = store_on(tmp_path)
    configs(images, registry).resolve(BASE, "linux/amd64")
    registry.roots[BASE] = INDEX_B
    registry.image(BASE, {"which": "B"}, config={"config": {"Env": ["WHICH=B"]}})  # pushed again
    kept = configs(images, registry)
    assert kept.resolve(BASE, "linux/amd64").env == ("WHICH=A",) and kept.pins[(BASE, "linux/amd64")] == INDEX_A
    pulled = configs(images, registry, refresh=True)  # --pull
    assert pulled.resolve(BASE, "linux/amd64").env == ("WHICH=B",) and pulled.pins[(BASE, "linux/amd64")] == INDEX_B
    after = configs(images, registry)  # the record follows --pull; the old index is forgotten
    assert after.resolve(BASE, "linux/amd64").env == ("WHICH=B",) and after.pins[(BASE, "linux/amd64")] == INDEX_B
    assert list(json.loads(Path(images.roots_path).read_text()).values()) == [INDEX_B]


def test_an_image_without_an_index_or_a_record_of_it_is_pinned_to_its_manifest(tmp_path: Path) -> None:
    registry = FakeRegistry()
    manifest = registry.image(BASE, {"f": "x"})
    images = store_on(tmp_path)
    found = configs(images, registry)
    found.resolve(BASE, "linux/amd64")
    assert found.pins == {(BASE, "linux/amd64"): manifest.digest}
    Path(images.roots_path).write_text(json.dumps({f"{BASE} {AMD64} {manifest.digest}": 42}))  # of the wrong shape
    assert images.pin(parse_reference(BASE), AMD64, manifest) == manifest.digest


def test_a_builder_never_gets_an_image_of_bakes_own_store(tmp_path: Path) -> None:
    registry = FakeRegistry()
    pulled = registry.image(BASE, {"f": "registry"}, config={"config": {"Env": ["FROM=registry"]}})
    images = store_on(tmp_path)
    local = FakeRegistry()
    built = local.image("local", {"f": "built"}, config={"config": {"Env": ["FROM=bake"]}})
    for blob in [*local.blobs.values(), built.raw]:
        images.store.write(blob)
    Path(images.images_path).write_text(json.dumps({BASE: built.descriptor().to_json()}))
    assert configs(images, registry).resolve(BASE, "linux/amd64").env == ("FROM=bake",)  # the embedded worker's
    remote = configs(images, registry, own=False)
    assert remote.resolve(BASE, "linux/amd64").env == ("FROM=registry",)
    assert remote.pins == {(BASE, "linux/amd64"): pulled.digest}
    assert anyio.run(images.manifest, registry.client, parse_reference(BASE), AMD64, False, False).digest == pulled.digest
