"""Provenance attestations on real builds, read back from a registry over its HTTP API: the index
BuildKit would push (image, then an attestation manifest on unknown/unknown naming it), the
statement's predicate, buildx's default and its opt-outs, and no secret in any of it."""

from __future__ import annotations

import hashlib
import json
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from tests.integration.test_build import project, run

ACCEPT = "application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json"
DOCKERFILE = ("FROM {base}\nARG GREETING=hi\nRUN --mount=type=secret,id=tok echo $GREETING > /g\n"
              "COPY f /f\n")
SECRET = "s3cr3t-token-value"


def fetch(registry: str, repo: str, what: str, kind: str = "manifests") -> Any:
    return json.loads(fetch_raw(registry, repo, what, kind))


def fetch_raw(registry: str, repo: str, what: str, kind: str = "manifests") -> bytes:
    req = urllib.request.Request(f"http://{registry}/v2/{repo}/{kind}/{what}", headers={"Accept": ACCEPT})
    with urllib.request.urlopen(req, timeout=30) as resp:
        return bytes(resp.read())


def pushed(tmp_path: Path, registry: str, base: str, name: str, extra: str = "") -> Path:
    tag = f"{registry}/att/{name}:1"
    tmp_path.mkdir(exist_ok=True)
    d = project(tmp_path, f'target "default" {{\n  tags = ["{tag}"]\n  args = {{ GREETING = "hello" }}\n'
                f'  secret = ["id=tok,src=tok.txt"]\n  output = ["type=registry"]\n{extra}}}\n',
                DOCKERFILE.format(base=base), {"f": "hello\n", "tok.txt": SECRET})
    run(d, tmp_path / "root")
    return d


def test_a_pushed_image_carries_max_provenance_as_buildkit_writes_it(busybox_image: str, registry: str,
                                                                       tmp_path: Path) -> None:
    pushed(tmp_path, registry, busybox_image, "max", '  attest = ["type=provenance,mode=max"]\n')
    index = fetch(registry, "att/max", "1")
    image, att = index["manifests"]
    assert index["mediaType"] == "application/vnd.oci.image.index.v1+json"
    assert image["platform"] == {"architecture": "amd64", "os": "linux"}
    assert att["platform"] == {"architecture": "unknown", "os": "unknown"}
    assert att["annotations"] == {"vnd.docker.reference.digest": image["digest"],
                                  "vnd.docker.reference.type": "attestation-manifest"}
    manifest = fetch(registry, "att/max", att["digest"])
    assert manifest["artifactType"] == "application/vnd.docker.attestation.manifest.v1+json"
    assert manifest["subject"]["digest"] == image["digest"]
    (layer,) = manifest["layers"]
    assert layer["mediaType"] == "application/vnd.in-toto+json"
    statement = fetch(registry, "att/max", layer["digest"], "blobs")
    assert statement["predicateType"] == "https://slsa.dev/provenance/v1"
    assert statement["subject"] == [{"name": f"pkg:docker/{registry.replace(':', '%3A')}/att/max@1?platform=linux%2Famd64",
                                     "digest": {"sha256": image["digest"][7:]}}]
    definition = statement["predicate"]["buildDefinition"]
    (base,) = definition["resolvedDependencies"]
    raw = fetch_raw(registry, "library/busybox", "latest")
    body = json.loads(raw)  # the base's manifest for the platform, as resolved: its digest
    digest = next((m["digest"] for m in body.get("manifests", []) if m["platform"]["architecture"] == "amd64"),
                  "sha256:" + hashlib.sha256(raw).hexdigest())
    assert base == {"uri": f"pkg:docker/{registry.replace(':', '%3A')}/library/busybox@latest?platform=linux%2Famd64",
                    "digest": {"sha256": digest[7:]}}
    request = definition["externalParameters"]["request"]
    assert request["frontend"] == "dockerfile.v0" and request["args"] == {"build-arg:GREETING": "hello"}
    assert request["secrets"] == [{"id": "tok", "optional": True}]
    assert statement["predicate"]["runDetails"]["metadata"]["buildkit_completeness"]["request"] is True
    assert SECRET not in json.dumps(statement) and "tok.txt" not in json.dumps(statement)


def test_buildx_s_default_min_provenance_and_its_opt_outs(busybox_image: str, registry: str, tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    pushed(tmp_path / "default", registry, busybox_image, "default")
    _, att = fetch(registry, "att/default", "1")["manifests"]
    layer = fetch(registry, "att/default", att["digest"])["layers"][0]
    request = fetch(registry, "att/default", layer["digest"], "blobs")["predicate"]["buildDefinition"][
        "externalParameters"]["request"]
    assert "args" not in request and "secrets" not in request  # min: what was built from, not how

    pushed(tmp_path / "off", registry, busybox_image, "off", '  attest = ["type=provenance,disabled=true"]\n')
    assert fetch(registry, "att/off", "1")["mediaType"] == "application/vnd.oci.image.manifest.v1+json"
    monkeypatch.setenv("BUILDX_NO_DEFAULT_ATTESTATIONS", "1")
    pushed(tmp_path / "env", registry, busybox_image, "env")
    assert fetch(registry, "att/env", "1")["mediaType"] == "application/vnd.oci.image.manifest.v1+json"
