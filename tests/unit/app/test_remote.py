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
    ('  output = ["type=oci,dest=x.tar"]\n  platforms = ["linux/amd64", "linux/arm64"]',
     "an image output (type=oci) of several platforms that is not pushed"),
    ('  output = ["type=tar,dest=x.tar"]\n  platforms = ["linux/amd64", "linux/arm64"]', "a tar output of several"),
    ('  cache-to = ["type=local,dest=c"]', "cache-to type=local (supported: registry, inline)"),
    ('  cache-from = ["type=inline"]', "cache-from type=inline (supported: registry)"),
    ('  cache-to = ["type=registry,ref=r/c"]\n  platforms = ["linux/amd64", "linux/arm64"]', "cache-to of several"),
])
def test_refused_before_building(tmp_path: Path, body: str, what: str) -> None:
    with pytest.raises(NotSupportedRemote, match="target t: " + what.replace("(", r"\(").replace(")", r"\)")):
        _refuse(_plan(tmp_path, body), BuildOptions(), BUILDER)


def test_accepted_shapes(tmp_path: Path) -> None:
    for body in ('  output = ["type=registry"]\n  tags = ["r/app:1"]\n  platforms = ["linux/amd64", "linux/arm64"]',
                 '  output = ["type=local,dest=out"]\n  platforms = ["linux/amd64", "linux/arm64"]',
                 '  cache-to = ["type=inline"]\n  cache-from = ["type=registry,ref=r/c"]\n  output = ["type=docker,dest=i.tar"]',
                 '  output = ["type=local,dest=a", "type=tar,dest=b.tar"]'):
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

    index = _index([pushed("linux/amd64", "sha256:aa"), pushed("linux/arm64/v8", "sha256:bb", described=False)])
    assert index.media_type == oci.INDEX
    assert index.body["manifests"] == [
        {"mediaType": oci.MANIFEST, "digest": "sha256:aa", "size": 500, "platform": {"architecture": "amd64", "os": "linux"}},
        {"mediaType": oci.MANIFEST, "digest": "sha256:bb", "size": 500,
         "platform": {"architecture": "arm64", "os": "linux", "variant": "v8"}}]
