"""Whole builds whose results must be BuildKit's: what COPY/ADD give files and the directories they
create (owners, modes, --parents), and who a RUN runs as (uid, gid, groups). The expected answers
were recorded from a real BuildKit v0.32.2 run of the same Dockerfile on the same base image
(tests/fixtures/buildkit/*.json)."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import pytest

from tests.integration.test_build import project, run

FIXTURES = Path(__file__).parents[1] / "fixtures" / "buildkit"


def fixture(name: str) -> dict:  # type: ignore[type-arg]
    return json.loads((FIXTURES / name).read_text())  # type: ignore[no-any-return]


def test_copy_and_add_owners_modes_and_parents(busybox_image: str, tmp_path: Path) -> None:
    fx = fixture("copy-owners-modes.json")
    d = project(tmp_path, 'target "default" {\n  output = ["type=local,dest=out"]\n}\n',
                fx["dockerfile"].replace("{base}", busybox_image), fx["files"])
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as t:
        for name, uid, gid, mode in fx["tar"]:
            info = tarfile.TarInfo(name)
            info.size, info.uid, info.gid, info.mode = 1, uid, gid, int(mode, 8)
            t.addfile(info, io.BytesIO(b"x"))
    (d / "x.tar").write_bytes(buf.getvalue())
    run(d, tmp_path / "root")
    for name, text in fx["expected"].items():
        assert (d / "out" / name).read_text() == text, name


@pytest.mark.parametrize("name", ["run-users-groups.json"])
def test_who_a_run_runs_as(busybox_image: str, tmp_path: Path, name: str) -> None:
    fx = fixture(name)
    d = project(tmp_path, 'target "default" {\n  output = ["type=local,dest=out"]\n}\n',
                fx["dockerfile"].replace("{base}", busybox_image))
    run(d, tmp_path / "root")
    for out, text in fx["expected"].items():
        assert (d / "out" / out).read_text() == text, out


def test_an_uncompressed_reproducible_manifest_is_buildkits(tmp_path: Path) -> None:
    """With SOURCE_DATE_EPOCH=0, rewrite-timestamp=true and uncompressed layers, the manifest is
    BuildKit's bytes (indented, rewritten layers annotated), OCI and Docker types alike. (gzip
    layers differ: Go's deflate is not zlib's; the layout's files: test_layout_fidelity.py.)"""
    fx = fixture("manifest-uncompressed.json")
    targets = "".join(
        f'target "{name}" {{\n  args = {{SOURCE_DATE_EPOCH = "0"}}\n'
        f'  output = ["type=oci,dest={name},tar=false,{out["attrs"]}"]\n}}\n' for name, out in fx["outputs"].items())
    d = project(tmp_path, targets, fx["dockerfile"], fx["files"])
    run(d, tmp_path / "root", *fx["outputs"])
    for name, out in fx["outputs"].items():
        top = json.loads((d / name / "index.json").read_text())["manifests"][0]["digest"]
        assert (d / name / "blobs/sha256" / top[7:]).read_text() == out["manifest"], name
        assert top == out["manifest_digest"], name


def test_a_reproducible_multi_platform_index_is_buildkits(tmp_path: Path) -> None:
    """Two platforms (recorded without buildx's default provenance attestations): each platform's
    manifest and the index over them are BuildKit's bytes."""
    fx = fixture("manifest-uncompressed.json")["multi_platform"]
    platforms = ", ".join(f'"{p}"' for p in fx["platforms"])
    d = project(tmp_path, f'target "default" {{\n  platforms = [{platforms}]\n  args = {{SOURCE_DATE_EPOCH = "0"}}\n'
                '  attest = ["type=provenance,disabled=true"]\n'  # as recorded: no attestation manifests
                f'  output = ["type=oci,dest=out,tar=false,{fx["attrs"]}"]\n}}\n', fx["dockerfile"], fx["files"])
    run(d, tmp_path / "root")
    top = json.loads((d / "out/index.json").read_text())["manifests"][0]["digest"]
    assert (d / "out/blobs/sha256" / top[7:]).read_text() == fx["index"]
    assert top == fx["index_digest"]
