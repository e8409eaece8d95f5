"""Attestations on a real buildkitd (buildx's remote driver): bake asks what buildx asks, and the
daemon's outputs have the layout buildx's had — every case recorded from buildx v0.36.1 on BuildKit
v0.32.2 in tests/fixtures/buildkit/attest/remote.json is built again by bake and compared.

Needs BAKE_TEST_BUILDKIT_HOST (and BAKE_TEST_BUILDKIT_BASE, a busybox the daemon pulls from a
registry it may push to); skipped otherwise, as tests/integration/test_remote_builder.py.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tarfile
import uuid
from pathlib import Path

import pytest

HOST = os.environ.get("BAKE_TEST_BUILDKIT_HOST", "")
BASE = os.environ.get("BAKE_TEST_BUILDKIT_BASE", "127.0.0.1:5000/library/busybox:latest")
pytestmark = pytest.mark.skipif(not HOST, reason="no BuildKit daemon: set BAKE_TEST_BUILDKIT_HOST=unix:///…/buildkitd.sock")
RECORDED = json.loads((Path(__file__).parents[1] / "fixtures/buildkit/attest/remote.json").read_text())


def _bake(tmp_path: Path, case: dict[str, object], tag: str) -> dict[str, object]:
    inst = tmp_path / "docker" / "buildx" / "instances"
    inst.mkdir(parents=True)
    (inst / "remote1").write_text(json.dumps({"Name": "remote1", "Driver": "remote", "Nodes": [
        {"Name": "remote10", "Endpoint": HOST, "Platforms": None, "DriverOpts": None, "Flags": None,
         "Files": None}], "Dynamic": False}))
    bake_file = str(RECORDED["bake_file"]).replace("127.0.0.1:5000/library/busybox:latest", BASE)
    (tmp_path / "docker-bake.hcl").write_text(bake_file)
    sets = [str(s) for s in case["set"]]  # type: ignore[attr-defined]
    if not any(s.startswith("app.output=") for s in sets):
        sets.append("app.output=type=registry")
    env = {k: v for k, v in os.environ.items() if k != "BUILDX_NO_DEFAULT_ATTESTATIONS"}
    env.update({"DOCKER_CONFIG": str(tmp_path / "docker"), "BAKE_ROOT": str(tmp_path / "root"), **case["env"]})  # type: ignore[dict-item]
    args = [a for s in [f"app.tags={tag}", *sets] for a in ("--set", s)]
    r = subprocess.run([sys.executable, "-m", "bake", "--progress=plain", "--builder", "remote1",
                        "--metadata-file", "meta.json", *args, "app"], cwd=tmp_path, env=env,
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    meta: dict[str, object] = json.loads((tmp_path / "meta.json").read_text())["app"]
    return meta


def _kinds(manifests: list[dict[str, object]]) -> list[list[str]]:
    return [[f"{m['platform']['os']}/{m['platform']['architecture']}",  # type: ignore[index]
             m.get("annotations", {}).get("vnd.docker.reference.type", "image")]  # type: ignore[attr-defined]
            for m in manifests]


def _layout(doc: dict[str, object]) -> dict[str, object]:
    out: dict[str, object] = {"mediaType": doc["mediaType"]}
    if "manifests" in doc:
        out["manifests"] = _kinds(doc["manifests"])  # type: ignore[arg-type]
    return out


@pytest.mark.parametrize("name", sorted(RECORDED["cases"]))
def test_bake_on_a_remote_builder_attests_as_buildx_did(tmp_path: Path, name: str) -> None:
    case = RECORDED["cases"][name]
    want = case["buildx"]
    tag = f"{BASE.split('/')[0]}/bake-remote-test/attest:{uuid.uuid4().hex[:12]}"
    meta = _bake(tmp_path, case, tag)
    # buildx alone reads the provenance back into the metadata (README)
    assert sorted(k for k in meta if not k.startswith("buildx.build.provenance")) == [
        k for k in want["metadata_keys"] if not k.startswith("buildx.build.provenance")]
    assert (meta.get("containerimage.descriptor") or {}).get("mediaType") == want["descriptor_mediaType"]  # type: ignore[attr-defined]
    if "pushed" in want:
        raw = subprocess.run(["skopeo", "inspect", "--tls-verify=false", "--raw", f"docker://{tag}"],
                             capture_output=True, text=True, check=True).stdout
        pushed = json.loads(raw)
        assert _layout(pushed) == want["pushed"]
        images = [m["digest"] for m in pushed.get("manifests", ()) if "annotations" not in m]
        attested = [m["annotations"]["vnd.docker.reference.digest"] for m in pushed.get("manifests", ())
                    if "annotations" in m]
        assert attested in ([], images)  # each attestation names its platform's image, in the same order
    if "oci" in want:
        with tarfile.open(tmp_path / "img.tar") as tf:
            (top,) = json.load(tf.extractfile("index.json"))["manifests"]  # type: ignore[arg-type]
            doc = json.load(tf.extractfile("blobs/" + top["digest"].replace(":", "/")))  # type: ignore[arg-type]
            indexes = [m.name for m in tf if m.isreg() and m.name.startswith("blobs/")
                       and b'"manifests"' in tf.extractfile(m).read()]  # type: ignore[union-attr]
        assert {"top": top["mediaType"], "manifests": _kinds(doc.get("manifests", []))} == want["oci"]
        assert len(indexes) == (1 if "manifests" in doc else 0)  # no part's own index left in the joined file
        assert meta["containerimage.digest"] == top["digest"]
    if "provenance.json" in want:
        assert (tmp_path / "out" / "provenance.json").exists() == want["provenance.json"]
    if "provenance_platform" in want:
        statement = json.loads((tmp_path / "out" / "provenance.json").read_text())
        uris = [m["uri"] for m in statement["predicate"]["buildDefinition"]["resolvedDependencies"]]
        quoted = want["provenance_platform"].replace("/", "%2F")
        # bake sends its image sources pinned, so BuildKit's purl also names the digest (?digest=…&platform=…)
        assert uris and all(f"platform={quoted}" in u.partition("?")[2].split("&") for u in uris), uris
