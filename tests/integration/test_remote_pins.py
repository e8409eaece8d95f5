"""A tag pushed anew between two builds on a BuildKit builder (needs BAKE_TEST_BUILDKIT_HOST, as
test_remote_builder): bake's image keeps the config and the layers of one image. bake pins each
image source to the digest whose config it used (the record of an earlier build, until --pull),
as buildx's frontend pins what it resolved; unpinned, the daemon resolved the tag again and built
on the new layers under the old config (seen: config WHICH=A over /which B)."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
import uuid
from pathlib import Path
from typing import Any

from tests.integration.test_remote_builder import BASE, HOST, _bake, _project, _skopeo, pytestmark

__all__ = ["pytestmark"]


def _pushed(tmp_path: Path, env: dict[str, str], which: str) -> str:
    """base:v1 pushed again with ENV WHICH and /which saying ``which``; the digest of its index."""
    r = _bake(tmp_path, env, "--builder", "remote1", "--set", f"base.args.WHICH={which}", "base")
    assert r.returncode == 0, r.stderr
    raw = _skopeo("--tls-verify=false", "--raw", f"docker://{_tag(tmp_path)}")
    assert json.loads(raw)["manifests"][0]["platform"]["architecture"] == "amd64"  # an index of two platforms
    return "sha256:" + hashlib.sha256(raw.encode()).hexdigest()


def _tag(tmp_path: Path) -> str:
    return (tmp_path / "tag").read_text()


def _built(tmp_path: Path, env: dict[str, str], *flags: str) -> tuple[str, str, list[str]]:
    """bake app: (its config's WHICH, its /seen, the image sources of the LLB it sent)."""
    r = _bake(tmp_path, env, "--builder", "remote1", *flags, "app")
    assert r.returncode == 0, r.stderr
    with tarfile.open(tmp_path / "app.tar") as t:
        def read(name: str) -> bytes:
            f = t.extractfile(name)
            assert f is not None, name
            return f.read()

        def doc(digest: str) -> Any:
            return json.loads(read(f"blobs/sha256/{digest.removeprefix('sha256:')}"))

        top = doc(json.loads(read("index.json"))["manifests"][0]["digest"])
        image = next(m for m in top["manifests"] if m["platform"]["os"] != "unknown")
        attestation = next(m for m in top["manifests"] if m["platform"]["os"] == "unknown")
        manifest = doc(image["digest"])
        config = doc(manifest["config"]["digest"])
        layer_blob = read(f"blobs/sha256/{manifest['layers'][-1]['digest'].removeprefix('sha256:')}")
        with tarfile.open(fileobj=io.BytesIO(layer_blob)) as layer:
            member = layer.extractfile("seen")
            assert member is not None
            seen = member.read().decode()
        statement = doc(doc(attestation["digest"])["layers"][0]["digest"])
    definition = statement["predicate"]["buildDefinition"]["internalParameters"]["buildConfig"]["llbDefinition"]
    sources = [s["op"]["Op"]["source"]["identifier"] for s in definition if "source" in s["op"]["Op"]]
    which = next(e for e in config["config"]["Env"] if e.startswith("WHICH="))
    return which, seen, sources


def test_a_tag_pushed_anew_gives_the_image_of_one_resolution(tmp_path: Path) -> None:
    env = _project(tmp_path, HOST, "type=cacheonly")
    tag = f"{BASE.split('/')[0]}/bake-remote-test/moved:{uuid.uuid4().hex[:12]}"
    (tmp_path / "tag").write_text(tag)
    (tmp_path / "docker-bake.hcl").write_text(f'''
target "base" {{
  platforms = ["linux/amd64", "linux/386"]
  tags = ["{tag}"]
  output = ["type=registry"]
  attest = ["type=provenance,disabled=true"]
  dockerfile-inline = <<EOT
FROM {BASE}
ARG WHICH
RUN echo $WHICH > /which
ENV WHICH=$WHICH
EOT
}}
target "app" {{
  output = ["type=oci,dest=app.tar"]
  attest = ["type=provenance,mode=max"]
  dockerfile-inline = <<EOT
FROM {tag}
RUN cat /which > /seen
EOT
}}
''')
    first = _pushed(tmp_path, env, "A")
    assert _built(tmp_path, env) == ("WHICH=A", "A\n", [f"docker-image://{tag}@{first}"])  # as buildx pins it: the index
    second = _pushed(tmp_path, env, "B")
    assert second != first
    assert _built(tmp_path, env) == ("WHICH=A", "A\n", [f"docker-image://{tag}@{first}"])  # the recorded resolution, whole
    assert _built(tmp_path, env, "--pull") == ("WHICH=B", "B\n", [f"docker-image://{tag}@{second}"])
