"""Step names as BuildKit's Dockerfile frontend gives them, pinned by names recorded from the
reference (tests/fixtures/buildkit/step-labels.json, ``--progress=rawjson`` vertex names):
``[stage-0 2/3]`` once a single-stage Dockerfile has another source (``COPY --from=<image>``, any
``RUN --mount``), ``WORKDIR /`` counted in the total without a number of its own, and a RUN named
by the instruction as written (flags kept, variables expanded, quotes kept, unset variables and
secret env values masked, a heredoc's first line); COPY, ADD and WORKDIR by the instruction
as written, expanded as a word; a ``--link`` copy as a copy and a ``LINK COPY`` merge (none with
``--chmod``, which BuildKit does not link).

Two deliberate differences are masked here: BuildKit pins FROM to the digest it resolved
(``@sha256:…``; bake resolves while building, so its names are known before), and where a FROM
image is also a ``--from`` source BuildKit's progress shows the shared vertex under the unnumbered
name of the implicit stage."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from bake.dockerfile.config import StaticConfigs
from bake.dockerfile.convert import BuildInputs, convert
from bake.graph.ops import Vertex

RECORDED = json.loads((Path(__file__).parents[2] / "fixtures" / "buildkit" / "step-labels.json").read_text())


def names(vertex: Vertex | None, out: set[str]) -> set[str]:
    if vertex is not None and vertex.name not in out:
        if vertex.name and not vertex.name.startswith("[internal]"):
            out.add(vertex.name)
        for v in vertex.inputs:
            names(v, out)
    return out


def shown(vertex_names: set[str]) -> set[str]:
    """What progress shows: one vertex per digest; a FROM image that is also an implicit ``--from``
    stage is shown under that stage's unnumbered name (see the module's docstring)."""
    return {n for n in vertex_names if not (re.match(r"^\[[^]]*\] FROM ", n) and n.split("] ", 1)[1] in vertex_names)}


@pytest.mark.parametrize("case", list(RECORDED["cases"]))
def test_step_names_are_buildkits(case: str) -> None:
    rec = RECORDED["cases"][case]
    got = convert(rec["dockerfile"], BuildInputs("linux/amd64", "linux/amd64"), StaticConfigs({}))
    ours = names(got.state.vertex, set())
    for state in got.stages.values():
        names(state.vertex, ours)
    assert sorted(shown(ours)) == sorted(re.sub(r"@sha256:[0-9a-f]{64}$", "", n) for n in rec["names"])
