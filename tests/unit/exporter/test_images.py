"""Image outputs over a real content store and a counting stand-in for the worker's layer store:
each shape of image is assembled once, layouts and pushes are gathered by the publisher and
pushed through one pusher, a damaged blob is repaired and the output written again."""

from __future__ import annotations

import hashlib
import json
import os
import tarfile
from collections.abc import Collection, Sequence
from pathlib import Path

import pytest

from bake._record import record
from bake.content import oci
from bake.content.imageconfig import ImageConfig
from bake.content.store import ContentStore, CorruptContent
from bake.errors import UsageError
from bake.exporter.errors import ExportError
from bake.exporter.images import Built, Publisher, TargetImages, assemble
from bake.exporter.job import ExportJob
from bake.exporter.table import exporter
from bake.model import OutputSpec


@record
class Blob:
    descriptor: oci.Descriptor
    diff_id: str


class CountingLayers:
    """Snapshot ``n``'s chain is 1..n; each layer is a small stored blob. Counts what was asked."""

    def __init__(self, store: ContentStore) -> None:
        self.store = store
        self.made: list[tuple[str, str, int | None, int | None, bool]] = []

    def chain(self, result: str) -> list[str]:
        return [str(n) for n in range(1, int(result) + 1)]

    def layer(self, snapshot: str, compression: str, level: int | None, epoch: int | None, force: bool) -> Blob:
        self.made.append((snapshot, compression, level, epoch, force))
        data = f"layer {snapshot} {compression}".encode()
        digest = self.store.write(data)
        kind = oci.LAYER_ZSTD if compression == "zstd" else oci.LAYER_GZIP
        return Blob(oci.Descriptor(kind, digest, len(data)), "sha256:" + hashlib.sha256(b"diff" + data).hexdigest())


class CountingPusher:
    def __init__(self) -> None:
        self.calls: list[tuple[list[tuple[oci.Descriptor, list[str]]], set[str]]] = []

    def __call__(self, images: Sequence[tuple[oci.Descriptor, Sequence[str]]], insecure: Collection[str] = ()) -> None:
        self.calls.append(([(top, list(names)) for top, names in images], set(insecure)))


def images(store: ContentStore, layers: CountingLayers, *platforms: str, result: str | None = "2") -> TargetImages:
    built = [Built(p, result, ImageConfig(env=("A=1",))) for p in platforms or ("linux/amd64",)]
    return TargetImages("app", store, layers, built, created=1_700_000_000.0, labels={"x": "1"})


def job(tmp_path: Path, imgs: TargetImages, publisher: Publisher, publish: bool = True) -> ExportJob:
    return ExportJob("app", ("app:1",), str(tmp_path), publish=publish, images=imgs, publisher=publisher)


def test_an_image_is_assembled_once_per_shape(tmp_path: Path) -> None:
    store = ContentStore(str(tmp_path / "content"))
    layers = CountingLayers(store)
    imgs = images(store, layers)
    gzip, again = imgs.image(OutputSpec("oci", "a.tar")), imgs.image(OutputSpec("image", names=("x",)))
    assert gzip == again and len(layers.made) == 2  # names and dest are not part of the image
    docker = imgs.image(OutputSpec("docker", "b.tar", oci_mediatypes=False))
    zstd = imgs.image(OutputSpec("oci", "c.tar", compression="zstd", compression_level=3))
    assert len({gzip, docker, zstd}) == 3
    assert docker.media_type == oci.DOCKER_MANIFEST and gzip.media_type == oci.MANIFEST
    assert layers.made[-2:] == [("1", "zstd", 3, None, False), ("2", "zstd", 3, None, False)]
    imgs.forget()
    imgs.image(OutputSpec("oci", "a.tar"))
    assert len(layers.made) == 8  # the gzip image made again after forget(): 2 + 2 + 2 + 2


def test_the_config_carries_labels_layers_and_the_creation_time(tmp_path: Path) -> None:
    store = ContentStore(str(tmp_path / "content"))
    top = images(store, CountingLayers(store)).image(OutputSpec("oci", "a.tar"))
    manifest = json.loads(store.read(top.digest))
    config = json.loads(store.read(manifest["config"]["digest"]))
    assert config["config"]["Labels"] == {"x": "1"} and config["config"]["Env"] == ["A=1"]
    assert len(config["rootfs"]["diff_ids"]) == len(manifest["layers"]) == 2
    assert config["created"] == "2023-11-14T22:13:20Z"


def test_source_date_epoch_and_rewrite_timestamp(tmp_path: Path) -> None:
    store = ContentStore(str(tmp_path / "content"))
    layers = CountingLayers(store)
    built = [Built("linux/amd64", "1", ImageConfig())]
    top = assemble(store, layers, built, OutputSpec("oci", "x", rewrite_timestamp=True), created=5.0, epoch=86400)
    config = json.loads(store.read(json.loads(store.read(top.digest))["config"]["digest"]))
    assert config["created"] == "1970-01-02T00:00:00Z" and layers.made == [("1", "gzip", None, 86400, False)]
    assemble(store, layers, built, OutputSpec("oci", "x"), created=5.0, epoch=86400)
    assert layers.made[-1] == ("1", "gzip", None, None, False)  # layer times kept without rewrite-timestamp


def test_several_platforms_make_an_index_and_an_empty_result_no_layers(tmp_path: Path) -> None:
    store = ContentStore(str(tmp_path / "content"))
    layers = CountingLayers(store)
    index = images(store, layers, "linux/amd64", "linux/arm64").image(OutputSpec("oci", "x"))
    body = json.loads(store.read(index.digest))
    assert index.media_type == oci.INDEX
    assert [m["platform"]["architecture"] for m in body["manifests"]] == ["amd64", "arm64"]
    empty = images(store, layers, result=None).image(OutputSpec("oci", "x"))
    assert json.loads(store.read(empty.digest))["layers"] == []


def test_zstd_layers_cannot_have_docker_media_types(tmp_path: Path) -> None:
    store = ContentStore(str(tmp_path / "content"))
    with pytest.raises(UsageError, match=r"target app: .*need OCI media types"):
        images(store, CountingLayers(store)).image(OutputSpec("docker", "x", compression="zstd", oci_mediatypes=False))


def test_an_oci_tarball_and_a_layout_directory(tmp_path: Path) -> None:
    store = ContentStore(str(tmp_path / "content"))
    imgs = images(store, CountingLayers(store))
    publisher = Publisher(str(tmp_path / "root"), store)
    j = job(tmp_path, imgs, publisher)
    tar_spec = OutputSpec("oci", "out/app.tar")
    assert exporter("oci").export(tar_spec, j) == ["type=oci,dest=out/app.tar"]
    with tarfile.open(tmp_path / "out/app.tar") as tar:
        index = json.loads(tar.extractfile("index.json").read())  # type: ignore[union-attr]
    assert index["manifests"][0]["annotations"]["org.opencontainers.image.ref.name"] == "1"
    assert j.metadata["containerimage.digest"] == index["manifests"][0]["digest"]
    assert j.metadata["image.name"] == "app:1"
    assert exporter("docker").export(OutputSpec("docker", "layout", tar=False), j) == ["type=docker,dest=layout"]
    assert (tmp_path / "layout/manifest.json").is_file() and (tmp_path / "layout/index.json").is_file()
    assert exporter("oci").describe(tar_spec) == "oci image format tarball out/app.tar"
    assert exporter("docker").describe(OutputSpec("docker", "l", tar=False)) == "docker image format layout directory l"


def test_nothing_is_written_when_not_publishing_but_the_metadata_is_known(tmp_path: Path) -> None:
    store = ContentStore(str(tmp_path / "content"))
    publisher = Publisher(str(tmp_path / "root"), store)
    j = job(tmp_path, images(store, CountingLayers(store)), publisher, publish=False)
    assert exporter("oci").export(OutputSpec("oci", "x.tar"), j) == []
    assert exporter("registry").export(OutputSpec("registry"), j) == []
    assert not (tmp_path / "x.tar").exists() and not publisher.pushes
    assert str(j.metadata["containerimage.digest"]).startswith("sha256:")


def test_image_store_and_pushes_go_through_the_publisher_and_one_pusher(tmp_path: Path) -> None:
    store = ContentStore(str(tmp_path / "content"))
    pusher = CountingPusher()
    (tmp_path / "root").mkdir()
    publisher = Publisher(str(tmp_path / "root"), store, pusher=pusher)
    imgs = images(store, CountingLayers(store))
    j = job(tmp_path, imgs, publisher)
    stored = OutputSpec("image", names=("app:1",), name_canonical=True)
    assert exporter("image").export(stored, j) == ["type=image,name=app:1,docker.io/library/app:1"]
    known = json.loads((tmp_path / "root/images.json").read_text())
    assert list(known) == ["docker.io/library/app:1"]
    assert exporter("registry").export(OutputSpec("registry", insecure=True), j) == ["pushing app:1"]
    assert exporter("image").export(OutputSpec("image", names=("reg:5000/app:2",), push=True), j) == [
        "pushing reg:5000/app:2"]
    assert exporter("registry").describe(OutputSpec("registry", names=("a",))) == "image a (push)"
    assert exporter("image").describe(OutputSpec("image")) == "image"
    assert pusher.calls == []  # nothing is pushed before every target is assembled
    assert publisher.flush() == ["pushed app:1, reg:5000/app:2"]
    ((pushed, insecure),) = pusher.calls
    assert pushed == [(imgs.image(stored), ["app:1", "reg:5000/app:2"])] and insecure == {"docker.io"}


def test_pushing_needs_a_name(tmp_path: Path) -> None:
    store = ContentStore(str(tmp_path / "content"))
    j = ExportJob("app", (), str(tmp_path), images=images(store, CountingLayers(store)),
                  publisher=Publisher(str(tmp_path), store))
    with pytest.raises(UsageError, match="pushing needs a name"):
        exporter("registry").export(OutputSpec("registry"), j)


def test_a_push_without_a_pusher_is_an_error_naming_it(tmp_path: Path) -> None:
    store = ContentStore(str(tmp_path / "content"))
    publisher = Publisher(str(tmp_path), store)
    exporter("registry").export(OutputSpec("registry"), job(tmp_path, images(store, CountingLayers(store)), publisher))
    with pytest.raises(ExportError, match="push of app:1: this command has no registry client"):
        publisher.flush()


def test_targets_pushing_one_name_make_one_index(tmp_path: Path) -> None:
    store = ContentStore(str(tmp_path / "content"))
    pusher = CountingPusher()
    publisher = Publisher(str(tmp_path), store, pusher=pusher)
    layers = CountingLayers(store)
    for name, platform in (("a", "linux/amd64"), ("b", "linux/arm64")):
        imgs = TargetImages(name, store, layers, [Built(platform, "1", ImageConfig())], created=0.0)
        exporter("registry").export(OutputSpec("registry", names=("r/app:1",)), ExportJob(name, (), "/", images=imgs,
                                                                                         publisher=publisher))
    publisher.flush()
    ((pushed, _),) = pusher.calls
    ((top, names),) = pushed
    body = json.loads(store.read(top.digest))
    assert names == ["r/app:1"] and [m["platform"]["architecture"] for m in body["manifests"]] == ["amd64", "arm64"]
    clash = Publisher(str(tmp_path), store, pusher=pusher)
    for name in ("a", "b"):
        imgs = TargetImages(name, store, layers, [Built("linux/amd64", "1" if name == "a" else "2", ImageConfig())],
                            created=0.0)
        exporter("registry").export(OutputSpec("registry", names=("r/app:1",)), ExportJob(name, (), "/", images=imgs,
                                                                                         publisher=clash))
    with pytest.raises(UsageError, match="targets a and b both push linux/amd64"):
        clash.flush()


def test_multi_target_layouts_are_written_once_by_the_publisher(tmp_path: Path) -> None:
    store = ContentStore(str(tmp_path / "content"))
    publisher = Publisher(str(tmp_path), store)
    layers = CountingLayers(store)
    dest = str(tmp_path / "all.tar")
    for name in ("a", "b"):
        imgs = TargetImages(name, store, layers, [Built("linux/amd64", "1", ImageConfig())], created=float(len(name)))
        spec = OutputSpec("oci", dest, multi_target=True)
        assert exporter("oci").export(spec, ExportJob(name, (f"{name}:1",), "/", images=imgs, publisher=publisher)) == []
    assert not os.path.exists(dest)
    assert publisher.flush() == [f"type=oci,dest={dest} (2 images)"]
    with tarfile.open(dest) as tar:
        index = json.loads(tar.extractfile("index.json").read())  # type: ignore[union-attr]
    assert [m["annotations"]["org.opencontainers.image.ref.name"] for m in index["manifests"]] == ["a:1", "b:1"]


def test_a_damaged_blob_is_repaired_and_the_output_written_again(tmp_path: Path) -> None:
    store = ContentStore(str(tmp_path / "content"))
    layers = CountingLayers(store)
    imgs = images(store, layers)
    top = imgs.image(OutputSpec("oci", "x.tar"))
    layer = json.loads(store.read(top.digest))["layers"][0]["digest"]
    Path(store.path(layer)).write_bytes(b"damaged")
    repaired: list[str] = []

    def repair(err: CorruptContent) -> bool:
        repaired.append(err.digest)
        os.unlink(store.path(err.digest))  # dropped; assembling again makes it anew
        return True

    j = job(tmp_path, imgs, Publisher(str(tmp_path), store, repair))
    assert exporter("oci").export(OutputSpec("oci", "x.tar"), j) == ["type=oci,dest=x.tar"]
    assert repaired == [layer] and len(layers.made) == 4  # assembled a second time after the repair
    unrepaired = job(tmp_path, images(store, CountingLayers(store)), Publisher(str(tmp_path), store))
    assert unrepaired.images is not None and unrepaired.images.image(OutputSpec("oci", "x.tar")) == top
    Path(store.path(layer)).write_bytes(b"damaged")  # after assembly: no repair, so the output fails
    with pytest.raises(ExportError, match=r"target app: output type=oci,dest=x.tar: blob .* is corrupt"):
        exporter("oci").export(OutputSpec("oci", "x.tar"), unrepaired)
