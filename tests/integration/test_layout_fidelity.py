"""OCI and docker layouts as BuildKit v0.32.2 writes them (answers recorded from the reference in
tests/fixtures/buildkit/layout-index.json): ``index.json`` entries annotated with the creation time,
the whole normalised name and its tag (``latest`` for an unnamed OCI image), a single platform's
manifest with its platform; docker's ``manifest.json`` with familiar names (``null`` without a tag);
the compact ``oci-layout``; a tar's members in BuildKit's order and modes, and its very bytes."""

from __future__ import annotations

import hashlib
import json
import os
import tarfile
from pathlib import Path

import pytest

from tests.integration.test_build import project, run

FIXTURE = json.loads((Path(__file__).parents[1] / "fixtures" / "buildkit" / "layout-index.json").read_text())


def target(name: str, rec: dict[str, object]) -> str:
    tags = ", ".join(f'"{t}"' for t in FIXTURE["tags"]) if rec["tags"] else ""
    platforms = '  platforms = ["linux/amd64", "linux/386"]\n' if rec["multi_platform"] else ""
    dest = f"{name}.tar" if rec["tar"] else name
    return (f'target "{name}" {{\n  args = {{SOURCE_DATE_EPOCH = "0"}}\n  tags = [{tags}]\n{platforms}'
            '  attest = ["type=provenance,disabled=true"]\n'  # as recorded: no attestation manifests
            f'  output = ["type={rec["type"]},tar={str(rec["tar"]).lower()},dest={dest},'
            'rewrite-timestamp=true,compression=uncompressed"]\n}\n')


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("layouts")
    d = project(tmp, "".join(target(n, r) for n, r in FIXTURE["targets"].items()), FIXTURE["dockerfile"],
                FIXTURE["files"])
    run(d, tmp / "root", *FIXTURE["targets"])
    return d


@pytest.mark.parametrize("name", list(FIXTURE["targets"]))
def test_a_layout_is_buildkits(built: Path, name: str) -> None:
    rec = FIXTURE["targets"][name]
    if rec["tar"]:
        with tarfile.open(built / f"{name}.tar") as tar:
            members = [[m.name + ("/" if m.isdir() else ""), oct(m.mode)] for m in tar]
            files = {n: tar.extractfile(n).read().decode() for n in rec["files"]}  # type: ignore[union-attr]
        assert members == rec["members"]
        assert hashlib.sha256((built / f"{name}.tar").read_bytes()).hexdigest() == rec["sha256"]  # Go's tar bytes
    else:
        files = {n: (built / name / n).read_text() for n in rec["files"]}
    assert files == rec["files"]


def test_a_linked_copy_is_a_layer_of_its_own(tmp_path: Path) -> None:
    """``COPY --link`` of files already below: BuildKit's layer is the copy alone (a merge op), so
    the same file copied twice gives the same layer twice; bake's merged snapshot exports the
    linked copy's own layer, not its difference to what lies below. The whole image is BuildKit's."""
    fx = json.loads((Path(__file__).parents[1] / "fixtures" / "buildkit" / "linked-copy.json").read_text())
    d = project(tmp_path, 'target "default" {\n  args = {SOURCE_DATE_EPOCH = "0"}\n'
                '  attest = ["type=provenance,disabled=true"]\n'
                f'  output = ["type=oci,tar=false,dest=out,{fx["attrs"]}"]\n}}\n', fx["dockerfile"], fx["files"])
    for name, when in fx["mtimes"].items():  # whole seconds: the differ then compares bytes, not times
        os.utime(d / name, (when, when))
    run(d, tmp_path / "root")
    index = json.loads((d / "out/index.json").read_text())
    manifest = json.loads((d / "out/blobs/sha256" / index["manifests"][0]["digest"][7:]).read_text())
    config = json.loads((d / "out/blobs/sha256" / manifest["config"]["digest"][7:]).read_text())
    assert config["rootfs"]["diff_ids"] == fx["diff_ids"]
    assert (d / "out/index.json").read_text() == fx["index_json"]
