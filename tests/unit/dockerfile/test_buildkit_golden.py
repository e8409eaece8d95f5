"""Image configs and history as BuildKit writes them, pinned by configs recorded from a real
BuildKit run (tests/fixtures/buildkit/image-config-*.json: the Dockerfile, the base image's config,
and for each target the config and history BuildKit produced; this build's timestamps masked).

bake converts the same Dockerfile against the same base config and must produce the same JSON."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from bake.content import oci
from bake.content.imageconfig import from_oci
from bake.dockerfile.config import StaticConfigs
from bake.dockerfile.convert import BuildInputs, convert
from bake.exporter.image import align_history, config_document

FIXTURES = sorted((Path(__file__).parents[2] / "fixtures" / "buildkit").glob("image-config-*.json"))
CASES = [(f, i) for f in FIXTURES for i in range(len(json.loads(f.read_text())["cases"]))]


def ours(doc: dict[str, Any], when: str) -> dict[str, Any]:
    history = [{**h, "created": "<build time>"} if h.get("created") == when else h for h in doc["history"]]
    return {"config": doc["config"], "history": history}


@pytest.mark.parametrize(("fixture", "case"), CASES, ids=[f"{f.stem}[{i}]" for f, i in CASES])
def test_configs_match_buildkits(fixture: Path, case: int) -> None:
    recorded = json.loads(fixture.read_text())
    want = recorded["cases"][case]
    base = recorded["base_image"]
    resolver = StaticConfigs({base["ref"]: from_oci(base["config"])})
    got = convert(recorded["dockerfile"], BuildInputs("linux/amd64", "linux/amd64", want["target"], want["build_args"]),
                  resolver)
    layers = sum(1 for h in want["expected"]["history"] if not h.get("empty_layer"))
    doc = config_document(align_history(got.config, layers), oci.Platform("linux", "amd64"), [], 1.7e9)
    when = doc.body["created"]
    assert ours(doc.body, when) == want["expected"]


def test_a_stage_on_a_target_context_inherits_that_targets_config(tmp_path: Path) -> None:
    """``contexts = { x = "target:base" }`` then ``FROM x``: the stage starts from base's image
    config (ENV, WORKDIR, labels, history), as buildx + BuildKit build it."""
    from bake.app import Request, TargetConverter, plan

    recorded = json.loads((FIXTURES[0].parent / "bake-target-contexts.json").read_text())
    for name, text in recorded["files"].items():
        (tmp_path / name).write_text(text)
    base = recorded["base_image"]
    the_plan = plan(Request(cwd=str(tmp_path), env={}))
    converter = TargetConverter(the_plan, str(tmp_path), "linux/amd64",
                                StaticConfigs({base["ref"]: from_oci(base["config"])}))
    for target, want in recorded["expected"].items():
        got = converter.converted(target, "linux/amd64")
        layers = sum(1 for h in want["history"] if not h.get("empty_layer"))
        doc = config_document(align_history(got.config, layers), oci.Platform("linux", "amd64"), [], 1.7e9)
        assert ours(doc.body, doc.body["created"]) == want, target


def test_a_reproducible_build_has_buildkits_layer_and_config_bytes(tmp_path: Path) -> None:
    """With SOURCE_DATE_EPOCH=0 BuildKit's COPY layer and image config are deterministic: bake's
    uncompressed layer (its diff id) and config are the same bytes, so the same digests."""
    import hashlib
    import os

    from bake.worker.differ import layer_bytes

    recorded = json.loads((FIXTURES[0].parent / "reproducible-copy.json").read_text())
    upper = tmp_path / "upper"
    upper.mkdir()
    (upper / "a").write_text(recorded["files"]["a"])
    os.chmod(upper / "a", 0o644)
    if os.geteuid() != 0:
        pytest.skip("the layer records the file's owner: only root can give it 0:0")
    os.chown(upper / "a", 0, 0)
    layer = layer_bytes(str(upper), source_date_epoch=0)
    assert "sha256:" + hashlib.sha256(layer).hexdigest() == recorded["layer_diff_id"]
    base = recorded["base_image"]
    got = convert(recorded["dockerfile"], BuildInputs("linux/amd64", "linux/amd64", None, {"SOURCE_DATE_EPOCH": "0"}),
                  StaticConfigs({base["ref"]: from_oci(base["config"])}))
    diff_ids = [*base["config"]["rootfs"]["diff_ids"], recorded["layer_diff_id"]]
    doc = config_document(align_history(got.config, len(diff_ids)), oci.Platform("linux", "amd64"), diff_ids, 0)
    assert doc.raw.decode() == recorded["config"]
    assert doc.digest == recorded["config_digest"]
