"""Pushing through the command's one client, with a stand-in client that records every request:
blobs before manifests, children before the index, a tag already serving the digest left alone,
and registry.insecure marking hosts on that client."""

from __future__ import annotations

import json
from pathlib import Path
from typing import cast

import anyio

from bake.content import oci
from bake.content.store import ContentStore
from bake.exporter.push import push_all
from bake.registry.client import RegistryClient
from bake.registry.config import HostSettings, RegistryConfig
from bake.registry.reference import Reference


class RecordingClient:
    def __init__(self) -> None:
        self.config = RegistryConfig({"reg.test": HostSettings(mirrors=("m.test",))})
        self.requests: list[tuple[str, str, str]] = []  # (call, repository, digest or tag)
        self.tags: dict[str, str] = {}

    async def pushed_digest(self, ref: Reference) -> str | None:
        return self.tags.get(f"{ref.repository}:{ref.tag}")

    async def push_blob(self, ref: Reference, digest: str, data: bytes) -> bool:
        self.requests.append(("blob", ref.repository, digest))
        return True

    async def push_manifest(self, ref: Reference, doc: oci.Document, tag: str | None = None) -> str:
        self.requests.append(("manifest", ref.repository, tag or ""))
        if tag and not tag.startswith("sha256:"):
            self.tags[f"{ref.repository}:{tag}"] = doc.digest
        return doc.digest


def image(store: ContentStore, arch: str) -> oci.Descriptor:
    layer = store.write(f"layer {arch}".encode())
    config = oci.encode({"architecture": arch, "os": "linux", "rootfs": {"type": "layers", "diff_ids": [layer]}})
    cfg = oci.Descriptor(oci.CONFIG, store.write(config), len(config))
    manifest = oci.manifest(cfg, [oci.Descriptor(oci.LAYER_GZIP, layer, len(f"layer {arch}"))])
    store.write(manifest.raw)
    return manifest.descriptor(oci.Platform("linux", arch))


def test_an_index_is_pushed_children_first_and_an_unchanged_tag_is_left_alone(tmp_path: Path) -> None:
    store = ContentStore(str(tmp_path))
    index = oci.index([image(store, "amd64"), image(store, "arm64")])
    store.write(index.raw)
    client = RecordingClient()
    stand_in = cast(RegistryClient, client)
    anyio.run(push_all, stand_in, store, [(index.descriptor(), ["reg.test/app:1"])], {"reg.test"})
    kinds = [kind for kind, _, _ in client.requests]
    assert kinds == ["blob"] * 4 + ["manifest"] * 3  # two layers and two configs, two manifests, then the index
    assert client.requests[-1] == ("manifest", "app", "1")
    assert all(tag.startswith("sha256:") for kind, _, tag in client.requests[4:6])
    host = client.config.host("reg.test")
    assert (host.http, host.insecure, host.mirrors) == (True, True, ("m.test",))
    before = len(client.requests)
    anyio.run(push_all, stand_in, store, [(index.descriptor(), ["reg.test/app:1"])])
    assert len(client.requests) == before  # the tag serves this digest already: one look, nothing pushed
    assert json.loads(store.read(index.descriptor().digest))["manifests"][0]["platform"]["architecture"] == "amd64"
