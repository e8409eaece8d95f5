"""The image configs bake builds are BuildKit's, byte for byte: every scenario of
tests/fixtures/buildkit/configs/scenarios.json (ENV/ARG/LABEL/USER/WORKDIR/EXPOSE/VOLUME/HEALTHCHECK/
SHELL/ONBUILD/STOPSIGNAL/CMD/ENTRYPOINT interplay, multi-stage builds, a directory or an image as a
named context) was built by buildx v0.36.1 + BuildKit v0.32.2 with SOURCE_DATE_EPOCH=0 and
``rewrite-timestamp=true`` (scripts/differential_config.py record); bake builds the same projects
in one run here and must write the same config bytes (so the same layer diff ids, the same digest)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from tests.integration.test_build import run

# busybox's layer as the reference's registry served it; the tests' registry serves a busybox made
# on this host (scripts/seed_registry.py), whose layer may differ: its diff id stands in for this one
REFERENCE_BASE = "sha256:1f1941b6e2a8fb89d79f67e3d68b6f633a134de62cbdbd71aeacfcb0890ef9b3"
SCENARIOS = json.loads((Path(__file__).parents[1] / "fixtures/buildkit/configs/scenarios.json").read_text())
RECORDED = [c for c in SCENARIOS if "error" not in c["recorded"]]


def _target(case: dict[str, Any], base: str) -> str:
    name = case["name"]
    args = {"SOURCE_DATE_EPOCH": "0", **case.get("args", {})}
    lines = [f'target "{name}" {{', f'  context = "{name}/ctx"',
             f'  output = ["type=oci,dest={name}/out,tar=false,rewrite-timestamp=true"]',
             "  args = {" + ", ".join(f"{k} = {json.dumps(v)}" for k, v in sorted(args.items())) + "}"]
    if case.get("contexts"):
        pairs = [f"{k} = {json.dumps(v.replace('busybox', base) if isinstance(v, str) else f'./{name}/{k}')}"
                 for k, v in sorted(case["contexts"].items())]
        lines.append("  contexts = {" + ", ".join(pairs) + "}")
    if case.get("target"):
        lines.append(f'  target = "{case["target"]}"')
    return "\n".join([*lines, "}"])


@pytest.fixture(scope="module")
def base_diff_id(busybox_image: str) -> str:
    """The diff id of the tests' busybox layer."""
    import urllib.request

    host, _, repo = busybox_image.partition("/")
    accept = {"Accept": "application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json"}

    def get(path: str) -> Any:
        with urllib.request.urlopen(urllib.request.Request(f"http://{host}/v2/{repo}/{path}", headers=accept)) as r:
            return json.loads(r.read())

    index = get("manifests/latest")
    amd64 = next(m for m in index["manifests"] if m["platform"]["architecture"] == "amd64")
    config = get(f"blobs/{get('manifests/' + amd64['digest'])['config']['digest']}")
    return str(config["rootfs"]["diff_ids"][0])


@pytest.fixture(scope="module")
def built(busybox_image: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Every scenario built by bake in one run, each into ``<name>/out``."""
    d = tmp_path_factory.mktemp("configs")
    for case in RECORDED:
        ctx = d / case["name"] / "ctx"
        ctx.mkdir(parents=True)
        (ctx / "Dockerfile").write_text(re.sub(r"(?<![/\w-])busybox\b(?![/-])", busybox_image,
                                               case["dockerfile"]))
        for rel, text in case.get("files", {}).items():
            (ctx / rel).parent.mkdir(parents=True, exist_ok=True)
            (ctx / rel).write_text(text)
        for name, files in (case.get("contexts") or {}).items():
            for rel, text in files.items() if isinstance(files, dict) else ():
                (d / case["name"] / name / rel).parent.mkdir(parents=True, exist_ok=True)
                (d / case["name"] / name / rel).write_text(text)
    (d / "docker-bake.hcl").write_text("\n".join(_target(c, busybox_image) for c in RECORDED) + "\n")
    run(d, tmp_path_factory.mktemp("root"), *(c["name"] for c in RECORDED))
    return d


@pytest.mark.parametrize("case", RECORDED, ids=[c["name"] for c in RECORDED])
def test_the_config_is_buildkits(built: Path, base_diff_id: str, case: dict[str, Any]) -> None:
    out = built / case["name"] / "out"
    manifest = json.loads((out / "blobs/sha256" / json.loads((out / "index.json").read_text())
                           ["manifests"][0]["digest"][7:]).read_text())
    config = (out / "blobs/sha256" / manifest["config"]["digest"][7:]).read_text()
    expected = case["recorded"]["config"].replace(REFERENCE_BASE, base_diff_id)
    assert json.loads(config) == json.loads(expected)  # a readable difference first
    assert config == expected
    if base_diff_id == REFERENCE_BASE or REFERENCE_BASE not in case["recorded"]["config"]:
        assert manifest["config"]["digest"] == case["recorded"]["config_digest"]
