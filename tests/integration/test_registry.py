"""Push and pull against a real registry (Debian's docker-registry on loopback)."""

from __future__ import annotations

import gzip
import hashlib
import json
from pathlib import Path

import httpx
import pytest

from bake.content import oci
from bake.content.store import ContentStore
from bake.registry.client import RegistryClient, RegistryError
from bake.registry.config import parse
from bake.registry.reference import parse_reference
from bake.worker.differ import layer_bytes
from tests.integration.tokenserver import TokenServer

pytestmark = pytest.mark.anyio


class CountingTransport(httpx.AsyncBaseTransport):
    """The real HTTP transport, recording each request as "METHOD URL"."""

    def __init__(self) -> None:
        self.inner = httpx.AsyncHTTPTransport()
        self.requests: list[str] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(f"{request.method} {request.url}")
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self.inner.aclose()


def image(rootfs: Path, arch: str) -> tuple[oci.Document, dict[str, bytes]]:
    layer = gzip.compress(layer_bytes(str(rootfs), source_date_epoch=0), mtime=0)
    diff_id = "sha256:" + hashlib.sha256(gzip.decompress(layer)).hexdigest()
    config_body = {"architecture": arch, "os": "linux", "config": {"Cmd": ["sh"], "Env": [f"ARCH={arch}"]},
                   "rootfs": {"type": "layers", "diff_ids": [diff_id]}}
    config = oci.Document(oci.CONFIG, config_body, oci.encode(config_body))
    layer_desc = oci.Descriptor(oci.LAYER_GZIP, "sha256:" + hashlib.sha256(layer).hexdigest(), len(layer))
    manifest = oci.manifest(config.descriptor(), [layer_desc])
    return manifest, {config.digest: config.raw, layer_desc.digest: layer}


async def test_push_then_pull_a_multi_platform_image(registry: str, busybox_rootfs: Path, tmp_path: Path) -> None:
    ref = parse_reference(f"{registry}/test/busybox:1")
    assert ref.insecure_by_default
    client = RegistryClient()
    try:
        descriptors = []
        for arch in ("amd64", "arm64"):
            manifest, blobs = image(busybox_rootfs, arch)
            uploaded = [await client.push_blob(ref, d, data) for d, data in blobs.items()]
            assert uploaded.count(True) >= 1
            await client.push_manifest(ref, manifest, tag=manifest.digest)
            descriptors.append(manifest.descriptor(oci.Platform("linux", arch)))
        index = oci.index(descriptors)
        assert await client.push_manifest(ref, index) == index.digest
        # a second push of the same blobs uploads nothing
        _, blobs = image(busybox_rootfs, "amd64")
        assert [await client.push_blob(ref, d, data) for d, data in blobs.items()] == [False, False]

        store = ContentStore(str(tmp_path / "store"))
        pulled = await client.pull(ref, oci.Platform("linux", "arm64"), store)
        config = json.loads(store.read(pulled.body["config"]["digest"]))
        assert config["architecture"] == "arm64" and config["config"]["Env"] == ["ARCH=arm64"]
        assert store.exists(pulled.body["layers"][0]["digest"])
        _, digest = await client.resolve(ref, oci.Platform("linux", "amd64"))
        assert digest == index.digest  # the tag resolved to our index, byte for byte
        pinned = parse_reference(f"{registry}/test/busybox@{index.digest}")
        assert (await client.manifest(pinned)).digest == index.digest
        with pytest.raises(RegistryError, match="manifest not found"):
            await client.manifest(parse_reference(f"{registry}/test/nope:1"))
    finally:
        await client.aclose()


@pytest.mark.root
async def test_images_become_shared_snapshot_chains(registry: str, busybox_rootfs: Path, tmp_path: Path) -> None:
    import os

    from bake.worker.images import ImageStore
    from bake.worker.snapshot import Snapshotter

    ref = parse_reference(f"{registry}/test/two-layers:1")
    client = RegistryClient()
    try:
        base_layer = gzip.compress(layer_bytes(str(busybox_rootfs), source_date_epoch=0), mtime=0)
        top_dir = tmp_path / "top"
        (top_dir / "etc").mkdir(parents=True)
        import stat as st

        os.mknod(top_dir / "etc" / "group", st.S_IFCHR, os.makedev(0, 0))  # deletes /etc/group
        (top_dir / "hello").write_text("hi\n")
        top_layer = gzip.compress(layer_bytes(str(top_dir), source_date_epoch=0), mtime=0)
        layers = []
        for data in (base_layer, top_layer):
            digest = "sha256:" + hashlib.sha256(data).hexdigest()
            await client.push_blob(ref, digest, data)
            layers.append(oci.Descriptor(oci.LAYER_GZIP, digest, len(data)))
        diff_ids = ["sha256:" + hashlib.sha256(gzip.decompress(d)).hexdigest() for d in (base_layer, top_layer)]
        config_body = {"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": diff_ids}}
        config = oci.Document(oci.CONFIG, config_body, oci.encode(config_body))
        await client.push_blob(ref, config.digest, config.raw)
        await client.push_manifest(ref, oci.manifest(config.descriptor(), layers))

        root = tmp_path / "bake"
        images = ImageStore(str(root), ContentStore(str(root / "content")), Snapshotter(str(root)))
        top, cfg = await images.pull(lambda: client, ref, oci.Platform("linux", "amd64"))
        assert cfg["rootfs"] == {"type": "layers", "diff_ids": diff_ids}
        counting = CountingTransport()
        offline = RegistryClient(transport=counting)
        try:
            again, _ = await images.pull(lambda: offline, ref, oci.Platform("linux", "amd64"))
            assert counting.requests == []  # the tag's recorded resolution is reused: nothing asked
            refreshed, _ = await images.pull(lambda: offline, ref, oci.Platform("linux", "amd64"), refresh=True)
            assert refreshed == top and any("/manifests/1" in r for r in counting.requests)  # --pull asks again
        finally:
            await offline.aclose()
        assert again == top and images.snapshots.ids() == [images.snapshots.chain(top)[-1], top]  # nothing re-unpacked
        view = tmp_path / "view"
        view.mkdir()
        images.snapshots.mount(top, str(view), readonly=True)
        try:
            assert (view / "hello").read_text() == "hi\n" and (view / "bin" / "busybox").exists()
            assert (view / "etc" / "passwd").exists() and not (view / "etc" / "group").exists()
        finally:
            images.snapshots.unmount(str(view))
    finally:
        await client.aclose()


async def test_bearer_tokens_from_a_token_server(token_registry: tuple[str, TokenServer], busybox_rootfs: Path,
                                                 tmp_path: Path) -> None:
    host, server = token_registry
    ref = parse_reference(f"{host}/team/app:1")
    client = RegistryClient(credentials=lambda registry: ("tester", "s3cret") if registry == host else None)
    try:
        manifest, blobs = image(busybox_rootfs, "amd64")
        for digest, data in blobs.items():
            await client.push_blob(ref, digest, data)
        await client.push_manifest(ref, manifest)
        pulled = await client.pull(ref, oci.Platform("linux", "amd64"), ContentStore(str(tmp_path / "store")))
        assert pulled.digest == manifest.digest
    finally:
        await client.aclose()
    scopes = {scope for scope, authenticated in server.requests if authenticated}
    assert scopes == {"repository:team/app:pull,push", "repository:team/app:pull"}
    assert len(server.requests) == 2  # one token per scope, reused for every later request

    anonymous = RegistryClient()
    try:
        with pytest.raises(RegistryError, match=r"token request to .* failed: 401"):
            await anonymous.manifest(ref)
    finally:
        await anonymous.aclose()


async def test_pulls_go_through_mirrors_in_order(registry: str, busybox_rootfs: Path, tmp_path: Path) -> None:
    client = RegistryClient()
    try:  # the real registry stands in as the mirror of a registry that does not exist
        manifest, blobs = image(busybox_rootfs, "amd64")
        mirrored = parse_reference(f"{registry}/mirrored/app:1")
        for digest, data in blobs.items():
            await client.push_blob(mirrored, digest, data)
        await client.push_manifest(mirrored, manifest)
    finally:
        await client.aclose()

    config = parse({"registry": {"registry.invalid": {"mirrors": ["127.0.0.1:1", registry]}}})
    client = RegistryClient(config=config, retries=0)
    try:  # the first mirror refuses connections, the second has the image, the origin is never asked
        pulled = await client.pull(parse_reference("registry.invalid/mirrored/app:1"), oci.Platform("linux", "amd64"),
                                   ContentStore(str(tmp_path / "store")))
        assert pulled.digest == manifest.digest
        with pytest.raises(RegistryError, match=r"registry\.invalid"):  # no mirror has it: the origin decides
            await client.manifest(parse_reference("registry.invalid/mirrored/other:1"))
        with pytest.raises(RegistryError, match=r"registry\.invalid"):  # pushes never go to a mirror
            await client.push_blob(parse_reference("registry.invalid/mirrored/app:1"), *next(iter(blobs.items())))
    finally:
        await client.aclose()


def test_base_image_configs_reach_the_frontend_from_the_registry(registry: str, busybox_rootfs: Path,
                                                                  tmp_path: Path) -> None:
    import anyio

    from bake.dockerfile.convert import BuildInputs, convert
    from bake.graph.ops import ExecOp
    from bake.worker.imageconfigs import RegistryConfigs
    from bake.worker.images import ImageStore
    from bake.worker.snapshot import Snapshotter

    ref = parse_reference(f"{registry}/base/app:1")
    layer = gzip.compress(layer_bytes(str(busybox_rootfs), source_date_epoch=0), mtime=0)
    diff_id = "sha256:" + hashlib.sha256(gzip.decompress(layer)).hexdigest()
    body = {"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": [diff_id]},
            "config": {"Env": ["PATH=/bin", "GREETING=hi"], "WorkingDir": "/srv", "User": "app"}}
    config = oci.Document(oci.CONFIG, body, oci.encode(body))
    layer_desc = oci.Descriptor(oci.LAYER_GZIP, "sha256:" + hashlib.sha256(layer).hexdigest(), len(layer))

    async def push() -> None:
        client = RegistryClient()
        try:
            await client.push_blob(ref, config.digest, config.raw)
            await client.push_blob(ref, layer_desc.digest, layer)
            await client.push_manifest(ref, oci.manifest(config.descriptor(), [layer_desc]))
        finally:
            await client.aclose()
    anyio.run(push)

    root = tmp_path / "bake"
    images = ImageStore(str(root), ContentStore(str(root / "content")), Snapshotter(str(root)))
    counting = CountingTransport()
    resolver = RegistryConfigs(images, lambda: RegistryClient(transport=counting))
    resolved = resolver.resolve(str(ref), "linux/amd64")
    assert resolved.env == ("PATH=/bin", "GREETING=hi") and resolved.workdir == "/srv" and resolved.user == "app"
    assert not images.store.exists(layer_desc.digest)  # configs need no layers

    dockerfile = f"FROM {ref}\nRUN echo $GREETING\n"
    state = convert(dockerfile, BuildInputs(platform="linux/amd64", build_platform="linux/amd64"), resolver).state
    run = state.vertex.op
    assert isinstance(run, ExecOp)
    assert "GREETING=hi" in run.env and run.cwd == "/srv" and run.user == "app"
    assert len([r for r in counting.requests if "/manifests/" in r]) == 1  # one resolution per image and platform


async def test_large_blobs_go_up_in_chunks_and_known_blobs_are_mounted(registry: str, tmp_path: Path) -> None:
    import os as _os

    data = _os.urandom(5 * 1024 * 1024 + 123)
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    counting = CountingTransport()
    client = RegistryClient(transport=counting)
    client.chunk_size = 2 * 1024 * 1024
    reader = RegistryClient()
    try:
        first = parse_reference(f"{registry}/chunks/one:1")
        assert await client.push_blob(first, digest, data)
        assert sum(r.startswith("PATCH ") for r in counting.requests) == 3  # 2 + 2 + 1 MiB and a bit
        store = ContentStore(str(tmp_path / "store"))
        await reader.fetch_blob(first, digest, store)
        assert store.read(digest) == data
        counting.requests.clear()
        second = parse_reference(f"{registry}/chunks/two:1")
        assert not await client.push_blob(second, digest, data)  # mounted from chunks/one: no bytes sent
        assert [r.split("?")[0].split(" ")[0] for r in counting.requests] == ["HEAD", "POST"]
        assert "mount=" in counting.requests[1] and "from=chunks%2Fone" in counting.requests[1]
        fresh = ContentStore(str(tmp_path / "fresh"))
        await reader.fetch_blob(second, digest, fresh)
        assert fresh.read(digest) == data
    finally:
        await client.aclose()
        await reader.aclose()
