"""Base image configs read from an OCI layout on disk, per platform, digests verified."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from bake.content.imageconfig import ImageConfig
from bake.content.ocilayout import LayoutError, OCILayoutConfigs
from bake.dockerfile.convert import BuildInputs, convert


def blob(root: Path, doc: dict[str, object]) -> dict[str, object]:
    data = json.dumps(doc).encode()
    digest = hashlib.sha256(data).hexdigest()
    (root / "blobs" / "sha256").mkdir(parents=True, exist_ok=True)
    (root / "blobs" / "sha256" / digest).write_bytes(data)
    return {"digest": f"sha256:{digest}", "size": len(data)}


def layout(root: Path) -> Path:
    (root / "oci-layout").write_text('{"imageLayoutVersion": "1.0.0"}')
    manifests = []
    for arch, user in (("amd64", "amd"), ("arm64", "arm")):
        config = blob(root, {"architecture": arch, "os": "linux", "config": {
            "Env": ["PATH=/usr/bin", f"ARCH={arch}"], "WorkingDir": "/srv", "User": user,
            "OnBuild": ["RUN echo onbuild"], "Cmd": ["sh"]}})
        manifest = blob(root, {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                               "config": config, "layers": []})
        manifests.append({**manifest, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                          "platform": {"os": "linux", "architecture": arch}})
    index = blob(root, {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": manifests})
    (root / "index.json").write_text(json.dumps({"schemaVersion": 2, "manifests": [
        {**index, "mediaType": "application/vnd.oci.image.index.v1+json",
         "annotations": {"org.opencontainers.image.ref.name": "docker.io/library/base:1"}}]}))
    return root


def test_configs_per_platform(tmp_path: Path) -> None:
    resolver = OCILayoutConfigs([str(layout(tmp_path))])
    amd = resolver.resolve("docker.io/library/base:1", "linux/amd64")
    arm = resolver.resolve("docker.io/library/base:1", "linux/arm64")
    assert (amd.user, arm.user, amd.workdir, amd.cmd) == ("amd", "arm", "/srv", ("sh",))
    assert "ARCH=arm64" in arm.env
    assert resolver.resolve("docker.io/library/other:1", "linux/amd64") == ImageConfig()


def test_a_stage_inherits_the_base_config(tmp_path: Path) -> None:
    resolver = OCILayoutConfigs([str(layout(tmp_path))])
    c = convert("FROM base:1\nRUN echo body\n", BuildInputs(platform="linux/arm64", build_platform="linux/amd64"), resolver)
    assert c.config.user == "arm" and c.config.cmd == ("sh",) and c.config.onbuild == ()
    assert c.state.vertex is not None and c.state.vertex.op.cwd == "/srv"  # type: ignore[union-attr]


def test_corrupt_blobs_are_refused(tmp_path: Path) -> None:
    root = layout(tmp_path)
    for path in (root / "blobs" / "sha256").iterdir():
        if b'"manifests"' in path.read_bytes() and b"index" in path.read_bytes():
            path.write_bytes(path.read_bytes().replace(b"amd64", b"amd65"))
    with pytest.raises(LayoutError, match="match its digest"):
        OCILayoutConfigs([str(root)]).resolve("docker.io/library/base:1", "linux/amd64")
