"""The remote builder's planning side, without a daemon: what is refused before building, one
result per target from its platforms' solves, and the index of a multi-platform push."""

from __future__ import annotations

from pathlib import Path

import pytest

from bake.app import Request, open_project
from bake.app.build import BuildOptions
from bake.app.outputs import TargetResult
from bake.app.remote import _per_target, _refuse
from bake.app.remote_index import _index
from bake.buildkit import NotSupportedRemote
from bake.buildkit.builders import Builder, Node
from bake.content import oci
from bake.errors import StepError
from bake.model import Plan

BUILDER = Builder("farm", "remote", (Node("n0", "unix:///b.sock"),))


def _plan(tmp_path: Path, body: str) -> Plan:
    (tmp_path / "docker-bake.hcl").write_text(f'target "t" {{\n  dockerfile-inline = "FROM scratch"\n{body}\n}}\n')
    return open_project(Request(cwd=str(tmp_path))).plan(["t"])


@pytest.mark.parametrize(("body", "what"), [
    ('  output = ["type=docker,dest=x.tar"]\n  platforms = ["linux/amd64", "linux/arm64"]',
     "an image output (type=docker) of several platforms that is not pushed"),
    ('  cache-to = ["type=local,dest=c"]', "cache-to type=local (supported: registry, inline)"),
    ('  cache-from = ["type=inline"]', "cache-from type=inline (supported: registry)"),
    ('  cache-to = ["type=registry,ref=r/c"]\n  platforms = ["linux/amd64", "linux/arm64"]', "cache-to of several"),
    ('  cache-to = ["type=registry,ref=r/c"]\n  platforms = ["linux/amd64,linux/arm64"]', "cache-to of several"),  # a,b is two
])
def test_refused_before_building(tmp_path: Path, body: str, what: str) -> None:
    with pytest.raises(NotSupportedRemote, match="target t: " + what.replace("(", r"\(").replace(")", r"\)")):
        _refuse(_plan(tmp_path, body), BuildOptions(), BUILDER)


def test_accepted_shapes(tmp_path: Path) -> None:
    for body in ('  output = ["type=registry"]\n  tags = ["r/app:1"]\n  platforms = ["linux/amd64", "linux/arm64"]',
                 '  output = ["type=local,dest=out"]\n  platforms = ["linux/amd64", "linux/arm64"]',
                 '  cache-to = ["type=inline"]\n  cache-from = ["type=registry,ref=r/c"]\n  output = ["type=docker,dest=i.tar"]',
                 '  output = ["type=local,dest=a", "type=tar,dest=b.tar"]',
                 '  output = ["type=oci,dest=i.tar", "type=tar,dest=f.tar"]\n  platforms = ["linux/amd64", "linux/arm64"]',
                 '  attest = ["type=provenance,mode=max"]\n  output = ["type=registry"]\n  tags = ["r/app:1"]\n'
                 '  platforms = ["linux/amd64", "linux/arm64"]'):
        _refuse(_plan(tmp_path, body), BuildOptions(), BUILDER)  # no error
    with pytest.raises(NotSupportedRemote, match="several outputs"):  # dockerd's BuildKit exports once
        _refuse(_plan(tmp_path, '  output = ["type=local,dest=a", "type=tar,dest=b.tar"]'), BuildOptions(),
                Builder("default", "docker", (Node("default", "unix:///var/run/docker.sock"),)))


def test_one_result_per_target_from_its_platforms(tmp_path: Path) -> None:
    plan = _plan(tmp_path, '  platforms = ["linux/amd64", "linux/arm64"]')
    err = StepError("[2/2] RUN x", "exit code: 1", ("t (linux/arm64)",))
    got = _per_target(plan, [], [
        TargetResult("t", ("linux/amd64",), (None,), ("type=local,dest=out",), None, 2, 1, {"a": 1}),
        TargetResult("t", ("linux/arm64",), (None,), ("type=local,dest=out",), err, 1, 0, None)])
    assert got == [TargetResult("t", ("linux/amd64", "linux/arm64"), (None, None), ("type=local,dest=out",), err, 3, 1,
                                {"a": 1})]


def test_the_index_of_each_platforms_pushed_manifest() -> None:
    def pushed(platform: str, digest: str, described: bool = True) -> TargetResult:
        desc = {"mediaType": oci.MANIFEST, "digest": digest, "size": 500,
                "annotations": {"org.opencontainers.image.created": "x"}}
        if described:
            desc["platform"] = oci.Platform.parse(platform).to_json()
        return TargetResult("t", (platform,), (None,), (), None, 0, 0, {"containerimage.descriptor": desc})

    index = _index([pushed("linux/amd64", "sha256:aa"), pushed("linux/arm64/v8", "sha256:bb", described=False)], {})
    assert index.media_type == oci.INDEX
    assert index.body["manifests"] == [
        {"mediaType": oci.MANIFEST, "digest": "sha256:aa", "size": 500, "platform": {"architecture": "amd64", "os": "linux"}},
        {"mediaType": oci.MANIFEST, "digest": "sha256:bb", "size": 500,
         "platform": {"architecture": "arm64", "os": "linux", "variant": "v8"}}]


def test_attested_platforms_give_every_image_then_every_attestation() -> None:
    """Each platform pushed an index of its image and attestation (buildx's default provenance);
    the target's index lists the images, then the attestations, as BuildKit's of several platforms."""
    def image(digest: str, platform: str) -> dict[str, object]:
        return {"mediaType": oci.MANIFEST, "digest": digest, "size": 500, "platform": oci.Platform.parse(platform).to_json()}

    def attestation(digest: str, of: str) -> dict[str, object]:
        return {"mediaType": oci.MANIFEST, "digest": digest, "size": 800,
                "annotations": {"vnd.docker.reference.digest": of, "vnd.docker.reference.type": "attestation-manifest"},
                "platform": {"architecture": "unknown", "os": "unknown"}}

    parts = {p: oci.index([oci.Descriptor.from_json(image(f"sha256:i-{p[6:]}", p)),
                           oci.Descriptor.from_json(attestation(f"sha256:a-{p[6:]}", f"sha256:i-{p[6:]}"))])
             for p in ("linux/amd64", "linux/arm64")}
    results = [TargetResult("t", (p,), (None,), (), None, 0, 0, {"containerimage.descriptor": d.descriptor().to_json()})
               for p, d in parts.items()]
    index = _index(results, {d.digest: d for d in parts.values()})
    assert index.media_type == oci.INDEX
    assert index.body["manifests"] == [
        image("sha256:i-amd64", "linux/amd64"), image("sha256:i-arm64", "linux/arm64"),
        attestation("sha256:a-amd64", "sha256:i-amd64"), attestation("sha256:a-arm64", "sha256:i-arm64")]


def _tarball(path: Path, files: dict[str, bytes]) -> None:
    import io
    import tarfile

    with tarfile.open(path, "w") as tf:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))


def test_platform_tarballs_joined_as_the_embedded_worker_writes_them(tmp_path: Path) -> None:
    import json
    import tarfile

    from bake.app.remote_merge import merge_parts, part

    plan = _plan(tmp_path, '  output = ["type=tar,dest=fs.tar", "type=oci,dest=img.tar"]\n'
                           '  platforms = ["linux/amd64", "linux/arm64"]')
    shared = b"a layer both platforms have"
    blob = "blobs/sha256/" + __import__("hashlib").sha256(shared).hexdigest()
    for platform, digest in (("linux/amd64", "sha256:aa"), ("linux/arm64", "sha256:bb")):
        _tarball(Path(part(str(tmp_path / "fs.tar"), platform)), {"etc/hostname": platform.encode()})
        index = {"schemaVersion": 2, "manifests": [{"mediaType": oci.MANIFEST, "digest": digest, "size": 3,
                                                    "annotations": {"io.containerd.image.name": "r/app:1"}}]}
        _tarball(Path(part(str(tmp_path / "img.tar"), platform)), {
            "oci-layout": b"{}", "index.json": json.dumps(index).encode(), blob: shared})
    result = TargetResult("t", ("linux/amd64", "linux/arm64"), (None, None), (), None, 0, 0,
                          {"containerimage.config.digest": "sha256:cc"})  # the last part's
    (got,) = merge_parts(plan, [result], str(tmp_path))
    with tarfile.open(tmp_path / "fs.tar") as tf:
        assert {m.name: tf.extractfile(m).read() for m in tf if m.isreg()} == {  # type: ignore[union-attr]
            "linux_amd64/etc/hostname": b"linux/amd64", "linux_arm64/etc/hostname": b"linux/arm64"}
    with tarfile.open(tmp_path / "img.tar") as tf:
        names = tf.getnames()
        assert names.count(blob) == 1  # shared blobs once
        (top,) = json.loads(tf.extractfile("index.json").read())["manifests"]  # type: ignore[union-attr]
        assert top["annotations"] == {"io.containerd.image.name": "r/app:1"}
        inner = json.loads(tf.extractfile("blobs/sha256/" + top["digest"].removeprefix("sha256:")).read())  # type: ignore[union-attr]
    assert [(m["digest"], m["platform"]["architecture"]) for m in inner["manifests"]] == [
        ("sha256:aa", "amd64"), ("sha256:bb", "arm64")]
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.endswith(".part")) == []  # parts removed
    # the metadata names the joined index, as buildx's of one solve of both platforms
    assert got.metadata == {"containerimage.digest": top["digest"],
                            "containerimage.descriptor": {"mediaType": oci.INDEX, "digest": top["digest"],
                                                          "size": top["size"]}}


def test_attested_platform_tarballs_join_into_one_index_of_images_then_attestations(tmp_path: Path) -> None:
    """Each part is an index of one platform's image and its attestation; joined, the images come
    first and the attestations after, as in BuildKit's tarball of several platforms, and the
    parts' own indexes are left out."""
    import json
    import tarfile

    from bake.app.remote_merge import merge_parts, part

    plan = _plan(tmp_path, '  output = ["type=oci,dest=img.tar"]\n  platforms = ["linux/amd64", "linux/arm64"]')
    for platform in ("linux/amd64", "linux/arm64"):
        arch = platform.partition("/")[2]
        own = oci.index([
            oci.Descriptor(oci.MANIFEST, f"sha256:i-{arch}", 5, oci.Platform.parse(platform)),
            oci.Descriptor(oci.MANIFEST, f"sha256:a-{arch}", 7, oci.Platform("unknown", "unknown"),
                           (("vnd.docker.reference.digest", f"sha256:i-{arch}"),
                            ("vnd.docker.reference.type", "attestation-manifest")))])
        top = {"schemaVersion": 2, "manifests": [own.descriptor().to_json()]}
        _tarball(Path(part(str(tmp_path / "img.tar"), platform)), {
            "oci-layout": b"{}", "index.json": json.dumps(top).encode(),
            "blobs/sha256/" + own.digest.removeprefix("sha256:"): own.raw})
    (got,) = merge_parts(plan, [TargetResult("t", ("linux/amd64", "linux/arm64"), (None, None), (), None, 0, 0)],
                         str(tmp_path))
    with tarfile.open(tmp_path / "img.tar") as tf:
        (top,) = json.loads(tf.extractfile("index.json").read())["manifests"]  # type: ignore[union-attr]
        inner = json.loads(tf.extractfile("blobs/" + top["digest"].replace(":", "/")).read())  # type: ignore[union-attr]
        blobs = [n for n in tf.getnames() if n.startswith("blobs/")]
    assert [(m["digest"], m["platform"]["architecture"]) for m in inner["manifests"]] == [
        ("sha256:i-amd64", "amd64"), ("sha256:i-arm64", "arm64"), ("sha256:a-amd64", "unknown"),
        ("sha256:a-arm64", "unknown")]
    assert inner["manifests"][2]["annotations"]["vnd.docker.reference.digest"] == "sha256:i-amd64"
    assert blobs == ["blobs/" + top["digest"].replace(":", "/")]
    assert (got.metadata or {})["containerimage.digest"] == top["digest"]
