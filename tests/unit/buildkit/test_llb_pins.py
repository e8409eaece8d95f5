"""Image sources sent to a BuildKit builder are pinned to the digest whose config bake used, as
BuildKit's Dockerfile frontend pins what it resolved (recorded:
tests/fixtures/buildkit/pinned-sources.json): the daemon never resolves a tag again, so a tag
pushed anew between bake's resolution and the daemon's pull cannot put one image's layers under
another's config."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bake.app import Request, TargetConverter, plan
from bake.app.remote import pins
from bake.app.roots import converted_roots
from bake.buildkit.llb import marshal
from bake.buildkit.proto import llb_pb2 as pb
from bake.content.imageconfig import ImageConfig
from bake.graph.ops import Vertex
from bake.graph.state import image

RECORDED = json.loads((Path(__file__).parents[2] / "fixtures" / "buildkit" / "pinned-sources.json").read_text())
BASE = RECORDED["base"]["reference"]
INDEX = RECORDED["base"]["index"]  # what the tag resolved to: BuildKit pins every platform to the index


class Resolving:
    """bake's configs as ``RegistryConfigs`` answers them: each resolution pins its image to INDEX."""

    def __init__(self) -> None:
        self.pins: dict[tuple[str, str], str] = {}
        self.calls: list[tuple[str, str]] = []

    def resolve(self, ref: str, platform: str) -> ImageConfig:
        self.calls.append((ref, platform))
        self.pins[(ref, platform)] = INDEX
        return ImageConfig()


def sources(v: Vertex | None, pinned: dict[tuple[str, str], str], pull: bool = False) -> list[dict[str, object]]:
    assert v is not None
    ops = [pb.Op.FromString(b) for b in marshal(v, pull=pull, pins=pinned).definition.ops]
    return [{"identifier": o.source.identifier, "attrs": dict(o.source.attrs),
             "platform": f"{o.platform.OS}/{o.platform.Architecture}"} for o in ops if o.WhichOneof("op") == "source"]


def converted(tmp_path: Path, case: str, contexts: str = "") -> tuple[list[tuple[str, Vertex | None]], Resolving,
                                                                      dict[tuple[str, str], str]]:
    c = RECORDED["cases"][case]
    (tmp_path / "Dockerfile").write_text(c["dockerfile"])
    platforms = ", ".join(f'"{p}"' for p in c["platforms"])
    (tmp_path / "docker-bake.hcl").write_text(f'target "default" {{\n  platforms = [{platforms}]\n{contexts}}}\n')
    the_plan = plan(Request(cwd=str(tmp_path), env={}))
    configs = Resolving()
    roots = converted_roots(the_plan, TargetConverter(the_plan, str(tmp_path), "linux/amd64", configs), "linux/amd64")
    return [(r.platform, r.vertex) for r in roots], configs, pins(roots, configs)  # type: ignore[arg-type]


@pytest.mark.parametrize("case", ["from", "from_pull"])
def test_from_is_pinned_on_every_platform_as_buildkit_pins_it(tmp_path: Path, case: str) -> None:
    roots, _, pinned = converted(tmp_path, case)
    for platform, vertex in roots:
        want = RECORDED["cases"][case]["recorded"][platform]["sources"]
        assert sources(vertex, pinned, pull=case == "from_pull") == want


def test_an_image_read_only_for_files_is_resolved_and_pinned_too(tmp_path: Path) -> None:
    """``COPY --from=<image>`` as recorded; the ``docker-image://`` named context is pinned as well,
    where BuildKit's frontend sends it unpinned (it resolves its config, then the daemon the tag
    again): a deliberate difference, as bake's config of it may come from an earlier build's record."""
    roots, configs, pinned = converted(tmp_path, "named_context_and_copy_from_image",
                                       f'  contexts = {{ base = "docker-image://{BASE}" }}\n')
    ((platform, vertex),) = roots
    recorded = RECORDED["cases"]["named_context_and_copy_from_image"]["recorded"][platform]["sources"]
    context, copied = recorded
    assert copied["identifier"] == f"docker-image://{BASE}@{INDEX}"
    assert context["identifier"] == f"docker-image://{BASE}"  # BuildKit's, unpinned
    assert sources(vertex, pinned) == [copied]  # one vertex: the context and the COPY --from image are the same source
    assert set(configs.calls) == {(BASE, platform)}


def test_an_image_no_stage_resolved_is_resolved_for_its_pin(tmp_path: Path) -> None:
    (tmp_path / "Dockerfile").write_text(f"FROM scratch\nCOPY --from={BASE} /which /copied\n")
    (tmp_path / "docker-bake.hcl").write_text('target "default" {\n  platforms = ["linux/386"]\n}\n')
    the_plan = plan(Request(cwd=str(tmp_path), env={}))
    configs = Resolving()
    roots = converted_roots(the_plan, TargetConverter(the_plan, str(tmp_path), "linux/amd64", configs), "linux/amd64")
    assert configs.calls == []  # the conversion needs no config of it
    pinned = pins(roots, configs)  # type: ignore[arg-type]
    assert configs.calls == [(BASE, "linux/386")]
    copied = RECORDED["cases"]["named_context_and_copy_from_image"]["recorded"]["linux/386"]["sources"][1]
    assert sources(roots[0].vertex, pinned) == [copied]


def test_a_reference_with_a_digest_or_without_a_resolution_goes_as_written() -> None:
    by_digest = f"{BASE}@{INDEX}"
    assert sources(image(by_digest, "linux/amd64").vertex, {(by_digest, "linux/amd64"): "sha256:" + "0" * 64}) == [
        {"identifier": f"docker-image://{by_digest}", "attrs": {}, "platform": "linux/amd64"}]
    assert sources(image(BASE, "linux/386").vertex, {(BASE, "linux/amd64"): INDEX}) == [
        {"identifier": f"docker-image://{BASE}", "attrs": {}, "platform": "linux/386"}]  # pinned for another platform only
