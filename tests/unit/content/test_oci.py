"""OCI documents keep the bytes they are addressed by; built ones are encoded canonically."""

from __future__ import annotations

import hashlib
import json

import pytest

from bake.content import oci


def test_parsed_documents_keep_their_exact_bytes() -> None:
    raw = b'{"schemaVersion": 2,\n "mediaType": "application/vnd.oci.image.manifest.v1+json", "config": {}, "layers": []}'
    doc = oci.parse(raw)
    assert doc.raw == raw and doc.digest == "sha256:" + hashlib.sha256(raw).hexdigest()
    assert doc.media_type == oci.MANIFEST


def test_built_manifest_and_index() -> None:
    config = oci.Document(oci.CONFIG, {"architecture": "amd64"}, oci.encode({"architecture": "amd64"}))
    layer = oci.Descriptor(oci.LAYER_GZIP, "sha256:" + "a" * 64, 10)
    m = oci.manifest(config.descriptor(), [layer], {"org.opencontainers.image.title": "x"})
    assert json.loads(m.raw)["layers"][0]["digest"] == layer.digest
    assert m.raw == oci.manifest(config.descriptor(), [layer], {"org.opencontainers.image.title": "x"}).raw  # stable
    amd = m.descriptor(oci.Platform.parse("linux/amd64"))
    arm = oci.Descriptor(oci.MANIFEST, "sha256:" + "b" * 64, 5, oci.Platform.parse("linux/arm64/v8"))
    idx = oci.index([amd, arm])
    assert oci.parse(idx.raw).media_type == oci.INDEX
    assert oci.select(idx, oci.Platform.parse("linux/arm64")) == arm
    assert oci.select(idx, oci.Platform.parse("linux/amd64")).digest == m.digest
    with pytest.raises(oci.OCIError, match="no manifest for linux/s390x"):
        oci.select(idx, oci.Platform.parse("linux/s390x"))


@pytest.mark.parametrize(("raw", "message"), [
    (b"not json", "not JSON"), (b"[]", "JSON object"),
    (b'{"mediaType": "application/vnd.oci.image.manifest.v1+json"}', "layers list"),
    (b'{"mediaType": "application/vnd.oci.image.index.v1+json"}', "manifests list"),
])
def test_malformed_documents(raw: bytes, message: str) -> None:
    with pytest.raises(oci.OCIError, match=message):
        oci.parse(raw)
