"""A corpus of real-world-shaped Dockerfiles: each parses, types, and converts for every stage."""

from __future__ import annotations

from pathlib import Path

import pytest

from bake.dockerfile.config import EmptyConfigs
from bake.dockerfile.convert import BuildInputs, convert
from bake.dockerfile.instructions import instructions
from bake.dockerfile.parser import parse
from bake.dockerfile.stages import platform_args, split_stages
from bake.graph.digest import digest

CORPUS = sorted((Path(__file__).resolve().parents[2] / "dockerfiles").glob("*.Dockerfile"))


def test_the_corpus_is_broad() -> None:
    assert len(CORPUS) >= 40


@pytest.mark.parametrize("path", CORPUS, ids=lambda p: p.stem)
def test_corpus_file_converts_for_every_stage(path: Path) -> None:
    text = path.read_text()
    doc = parse(text, path.name)
    assert doc.nodes
    stages = split_stages(instructions(doc), {}, platform_args("linux/amd64", "linux/amd64"))
    targets = [None, *(s.name for s in stages.stages if s.name)]
    for target in targets:
        for platform in ("linux/amd64", "linux/arm64"):
            inputs = BuildInputs(platform=platform, build_platform="linux/amd64", target=target)
            out = convert(text, inputs, EmptyConfigs(), path.name)
            if out.state.vertex is not None:
                assert digest(out.state.vertex).startswith("sha256:")
