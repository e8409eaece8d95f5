"""The image store over a counting fake registry and copy snapshots: a pull fetches what the store
lacks, unpacks each layer into its own snapshot (shared between images with the same lower layers),
records what a tag resolved to so a rebuild asks no registry, and heals damaged blobs."""

from __future__ import annotations

import io
import json
import os
import tarfile
from pathlib import Path

import anyio
import pytest

from bake.content import oci
from bake.content.store import ContentStore, CorruptContent
from bake.registry.reference import parse_reference
from bake.worker.errors import UnsafeArchiveError
from bake.worker.images import ImageStore
from tests.unit.worker.fakes import CopySnapshots
from tests.unit.worker.registryfake import FakeRegistry

AMD64 = oci.Platform("linux", "amd64")
BUSYBOX = str(parse_reference("busybox:1"))
ALPINE = str(parse_reference("alpine:3"))


def store_on(root: Path) -> tuple[ImageStore, CopySnapshots]:
    snaps = CopySnapshots(str(root))
    return ImageStore(str(root), ContentStore(str(root / "content")), snaps), snaps


def pull(images: ImageStore, registry: FakeRegistry, ref: str, refresh: bool = False,
         log: list[bytes] | None = None) -> tuple[str, dict[str, object]]:
    async def main() -> tuple[str, dict[str, object]]:
        return await images.pull(registry.client, parse_reference(ref), AMD64, refresh,  # type: ignore[arg-type]
                                 (log if log is not None else []).append)
    return anyio.run(main)


def test_a_pull_unpacks_each_layer_into_its_own_snapshot(tmp_path: Path) -> None:
    registry = FakeRegistry()
    manifest = registry.image(BUSYBOX, {"bin/": "", "bin/sh": "shell"}, {"etc/": "", "etc/os-release": "busybox"},
                              config={"config": {"Env": ["PATH=/bin"]}})
    images, snaps = store_on(tmp_path)
    log: list[bytes] = []
    top, config = pull(images, registry, BUSYBOX, log=log)
    assert config["config"] == {"Env": ["PATH=/bin"]}
    assert snaps.tree(top) == {"/bin/sh": b"shell", "/etc/os-release": b"busybox"}
    base = snaps.parent(top)
    assert base is not None and snaps.parent(base) is None and snaps.tree(base) == {"/bin/sh": b"shell"}
    assert registry.fetched == [manifest.body["config"]["digest"], *(x["digest"] for x in manifest.body["layers"])]
    text = b"".join(log).decode()
    assert f"resolve {BUSYBOX}@{manifest.digest}" in text and "fetched" in text and "unpacked 2 layer(s)" in text
    # each unpacked layer keeps its own blob, so an exported image shares them byte for byte
    assert images.layers.pulled(top) and images.layers.layer(top).descriptor.digest == manifest.body["layers"][1]["digest"]


def test_a_second_pull_asks_no_registry_and_unpacks_nothing(tmp_path: Path) -> None:
    registry = FakeRegistry()
    registry.image(BUSYBOX, {"bin/sh": "shell"})
    images, snaps = store_on(tmp_path)
    top, _ = pull(images, registry, BUSYBOX)
    calls, ids = dict(registry.calls), snaps.ids()
    again, _ = pull(*store_on(tmp_path)[:1], registry, BUSYBOX)  # a new process on the same root
    assert again == top and snaps.ids() == ids
    assert registry.calls == calls  # the recorded resolution: no client was even made


def test_refresh_resolves_again_and_a_moved_tag_gets_its_new_image(tmp_path: Path) -> None:
    registry = FakeRegistry()
    registry.image(BUSYBOX, {"v": "1"})
    images, snaps = store_on(tmp_path)
    first, _ = pull(images, registry, BUSYBOX)
    registry.image(BUSYBOX, {"v": "2"})
    assert pull(images, registry, BUSYBOX)[0] == first  # recorded: the tag is not asked again
    second, _ = pull(images, registry, BUSYBOX, refresh=True)
    assert snaps.tree(second) == {"/v": b"2"}


def test_images_with_the_same_lower_layers_share_their_snapshots(tmp_path: Path) -> None:
    registry = FakeRegistry()
    registry.image(BUSYBOX, {"bin/sh": "shell"}, {"app": "one"})
    registry.image(ALPINE, {"bin/sh": "shell"}, {"app": "two"})
    images, snaps = store_on(tmp_path)
    a, _ = pull(images, registry, BUSYBOX)
    b, _ = pull(images, registry, ALPINE)
    assert a != b and snaps.parent(a) == snaps.parent(b)
    assert len(snaps.ids()) == 3
    assert snaps.tree(b) == {"/bin/sh": b"shell", "/app": b"two"}


def test_an_image_without_layers_is_an_empty_snapshot(tmp_path: Path) -> None:
    registry = FakeRegistry()
    registry.image(BUSYBOX)
    images, snaps = store_on(tmp_path)
    top, _ = pull(images, registry, BUSYBOX)
    assert snaps.committed(top) and snaps.tree(top) == {}


def test_uncompressed_layers_unpack_too(tmp_path: Path) -> None:
    registry = FakeRegistry()
    registry.image(BUSYBOX, {"f": "plain"}, gzipped=False)
    images, snaps = store_on(tmp_path)
    assert snaps.tree(pull(images, registry, BUSYBOX)[0]) == {"/f": b"plain"}


def test_a_layer_damaged_in_the_store_is_fetched_again(tmp_path: Path) -> None:
    registry = FakeRegistry()
    manifest = registry.image(BUSYBOX, {"f": "good"})
    layer = manifest.body["layers"][0]["digest"]
    images, snaps = store_on(tmp_path)
    anyio.run(registry.fetch_blob, parse_reference(BUSYBOX), layer, images.store)
    path = Path(images.store.path(layer))
    os.chmod(path, 0o644)
    path.write_bytes(b"rotten")
    log: list[bytes] = []
    top, _ = pull(images, registry, BUSYBOX, log=log)
    assert snaps.tree(top) == {"/f": b"good"}
    assert registry.fetched.count(layer) == 2
    assert b"was damaged in the store: fetched again" in b"".join(log)
    assert any(layer in note for note in images.store.repaired)


def test_a_layer_that_fails_to_apply_leaves_no_half_snapshot(tmp_path: Path) -> None:
    registry = FakeRegistry()
    registry.image(BUSYBOX, {"f": "x"})
    images, snaps = store_on(tmp_path)
    # a layer whose hard link points out of the root
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as t:
        info = tarfile.TarInfo("escape")
        info.type, info.linkname = tarfile.LNKTYPE, "../../etc/passwd"
        t.addfile(info)
    bad = buf.getvalue()
    digest = images.store.write(bad)
    doc = oci.manifest(oci.Descriptor(oci.CONFIG, images.store.write(b"{}"), 2),
                       [oci.Descriptor(oci.LAYER_TAR, digest, len(bad))])
    with pytest.raises(UnsafeArchiveError):
        images.unpack(doc, {})
    assert snaps.ids() == []


def test_a_damaged_recorded_config_is_dropped_and_the_registry_asked_again(tmp_path: Path) -> None:
    registry = FakeRegistry()
    manifest = registry.image(BUSYBOX, {"f": "x"}, config={"config": {"User": "app"}})
    images, _ = store_on(tmp_path)
    pull(images, registry, BUSYBOX)
    config = Path(images.store.path(manifest.body["config"]["digest"]))
    os.chmod(config, 0o644)
    config.write_bytes(b"{}")
    assert images.recorded(parse_reference(BUSYBOX), AMD64) is None
    assert not config.exists()
    resolves = registry.calls["resolve"]
    got, _ = anyio.run(images.config, registry.client, parse_reference(BUSYBOX), AMD64)  # type: ignore[arg-type]
    assert got["config"] == {"User": "app"} and registry.calls["resolve"] == resolves + 1


def test_an_image_bake_built_under_the_name_comes_before_the_registry(tmp_path: Path) -> None:
    registry = FakeRegistry()
    pulled = registry.image(BUSYBOX, {"f": "registry"})
    images, _ = store_on(tmp_path)
    local = FakeRegistry()
    built = local.image("local", {"f": "built"})
    for blob in local.blobs.values():
        images.store.write(blob)
    images.store.write(built.raw)
    index = oci.index([built.descriptor(AMD64)])
    images.store.write(index.raw)
    Path(images.images_path).write_text(json.dumps({BUSYBOX: index.descriptor().to_json()}))
    found = images.recorded(parse_reference(BUSYBOX), AMD64)
    assert found is not None and found.digest == built.digest != pulled.digest
    assert images.built(parse_reference(BUSYBOX), oci.Platform("linux", "s390x")) is None  # not in its index


def test_a_damaged_recorded_manifest_is_a_miss(tmp_path: Path) -> None:
    registry = FakeRegistry()
    manifest = registry.image(BUSYBOX, {"f": "x"})
    images, _ = store_on(tmp_path)
    pull(images, registry, BUSYBOX)
    path = Path(images.store.path(manifest.digest))
    os.chmod(path, 0o644)
    path.write_bytes(b"{}")
    assert images.recorded(parse_reference(BUSYBOX), AMD64) is None and not path.exists()
    Path(images.resolved_path).write_text(json.dumps({f"{BUSYBOX} {AMD64}": 42}))  # of the wrong shape
    assert images.recorded(parse_reference(BUSYBOX), AMD64) is None


def test_repair_rebuilds_a_layer_this_root_made(tmp_path: Path) -> None:
    images, snaps = store_on(tmp_path)
    sid = snaps.prepare(None)
    Path(snaps.upper(sid), "made").write_text("by a RUN")
    snaps.commit(sid)
    layer = images.layers.layer(sid, epoch=0)
    images.store.drop(layer.descriptor.digest)  # as an export finding it damaged does first
    assert images.repair(CorruptContent(layer.descriptor.digest, "x")) is True
    assert images.store.verify(layer.descriptor.digest)


def test_repair_of_a_blob_nobody_made_or_pulled_answers_false(tmp_path: Path) -> None:
    images, _ = store_on(tmp_path)
    digest = images.store.write(b"stray")
    assert images.repair(CorruptContent(digest, "x")) is False
    assert not images.store.exists(digest)


def test_layers_download_at_once_and_unpack_in_order_each_onto_its_parent(tmp_path: Path) -> None:
    registry = FakeRegistry(chunk=64)
    manifest = registry.image(BUSYBOX, {"etc/": "", "etc/motd": "one" * 100},
                              {"etc/motd": "two" * 100}, {"app": "three" * 100})
    images, snaps = store_on(tmp_path)
    top, _ = pull(images, registry, BUSYBOX)
    assert registry.most_at_once == 3  # every layer was downloading before the first one ended
    assert snaps.tree(top) == {"/etc/motd": b"two" * 100, "/app": b"three" * 100}
    assert [len(snaps.chain(s)) for s in snaps.ids()] == [1, 2, 3]
    assert registry.fetched == [manifest.body["config"]["digest"], *(x["digest"] for x in manifest.body["layers"])]
    assert os.listdir(images.store.ingest) == []


def test_a_layer_unpacks_while_it_downloads(tmp_path: Path) -> None:
    """The download of the layer's second half waits until the first file of its first half is
    unpacked: a pull that unpacked only whole blobs would never finish (it fails after 10 s)."""
    registry = FakeRegistry(chunk=16 << 10)
    noise = os.urandom(2_000_000).hex()  # 4 MB of text, about 2.3 MB gzipped
    registry.image(BUSYBOX, {"first": "early", "rest": noise})
    images, snaps = store_on(tmp_path)

    async def between(blob: str, sent: int) -> None:
        if sent == 96 * (16 << 10):  # 1.5 MB sent: more than a block of the decompressor's output
            with anyio.fail_after(10):
                while not list(Path(images.scratch).glob("*/first")):
                    await anyio.sleep(0.01)
        await anyio.sleep(0)

    registry.between = between
    top, _ = pull(images, registry, BUSYBOX)
    assert snaps.tree(top) == {"/first": b"early", "/rest": noise.encode()}


def test_a_blob_the_registry_garbles_leaves_no_snapshot_and_no_blob(tmp_path: Path) -> None:
    from bake.content.store import ContentError

    registry = FakeRegistry(chunk=64)
    manifest = registry.image(BUSYBOX, {"f": "good" * 100})
    layer = manifest.body["layers"][0]
    good = registry.blobs[layer["digest"]]
    registry.served[layer["digest"]] = good[:-40] + bytes(40)  # same size, wrong bytes
    images, snaps = store_on(tmp_path)
    with pytest.raises(ContentError):
        pull(images, registry, BUSYBOX)
    assert snaps.ids() == [] and not images.store.exists(layer["digest"])
    assert os.listdir(images.store.ingest) == []


def test_a_layer_that_is_not_what_the_config_says_is_refused(tmp_path: Path) -> None:
    """The config's diff IDs name the chain a snapshot is shared under: a layer whose tar does not
    match must not become the snapshot of another image's layer."""
    from bake.worker.errors import SourceError
    from tests.unit.worker.registryfake import digest

    registry = FakeRegistry()
    honest = registry.image(ALPINE, {"bin/sh": "the real shell"})
    diff_id = json.loads(registry.blobs[honest.body["config"]["digest"]])["rootfs"]["diff_ids"][0]
    lying = registry.image(BUSYBOX, {"bin/sh": "a trojan"})
    config = json.loads(registry.blobs[lying.body["config"]["digest"]])
    config["rootfs"]["diff_ids"] = [diff_id]  # claims to be the honest image's layer
    raw = oci.encode(config)
    registry.blobs[digest(raw)] = raw
    manifest = oci.manifest(oci.Descriptor(oci.CONFIG, digest(raw), len(raw)),
                            [oci.Descriptor.from_json(x) for x in lying.body["layers"]])
    registry.manifests[BUSYBOX] = registry.manifests[manifest.digest] = manifest
    images, snaps = store_on(tmp_path)
    with pytest.raises(SourceError, match="not what its image config says"):
        pull(images, registry, BUSYBOX)
    assert snaps.ids() == []
    assert snaps.tree(pull(images, registry, ALPINE)[0]) == {"/bin/sh": b"the real shell"}


def test_a_pull_whose_shared_download_is_cancelled_takes_it_over(tmp_path: Path) -> None:
    """Two pulls of one image share one download; the pull that started it is cancelled mid-blob.
    The other one fetches the blob itself and finishes, instead of failing with the abandoned one."""
    registry = FakeRegistry(chunk=64)
    manifest = registry.image(BUSYBOX, {"f": "shared" * 100})
    layer = manifest.body["layers"][0]["digest"]
    images, snaps = store_on(tmp_path)
    never = anyio.Event()

    async def between(blob: str, sent: int) -> None:
        if registry.calls["download_blob"] == 1:
            await never.wait()  # the first download stalls after its first chunk, until cancelled

    registry.between = between
    first_log: list[bytes] = []
    second_log: list[bytes] = []
    got: dict[str, object] = {}

    async def main() -> None:
        ref = parse_reference(BUSYBOX)
        async with anyio.create_task_group() as tg:
            first = anyio.CancelScope()

            async def first_pull() -> None:
                with first:
                    await images.pull(registry.client, ref, AMD64, False, first_log.append)  # type: ignore[arg-type]

            async def second_pull() -> None:
                got["top"], _ = await images.pull(registry.client, ref, AMD64, False,  # type: ignore[arg-type]
                                                  second_log.append)

            tg.start_soon(first_pull)
            with anyio.fail_after(10):
                while registry.calls["download_blob"] == 0:
                    await anyio.sleep(0)
                tg.start_soon(second_pull)
                while b"shared with another pull" not in b"".join(second_log):
                    await anyio.sleep(0)
            first.cancel()

    anyio.run(main)
    assert snaps.tree(str(got["top"])) == {"/f": b"shared" * 100}
    assert registry.calls["download_blob"] == 2 and registry.fetched.count(layer) == 2
    assert b"fetched\n" not in b"".join(first_log)
    assert images.store.verify(layer) and os.listdir(images.store.ingest) == []
