"""Stages: global ARGs, stage references, targets, and only the stages a target needs."""

from __future__ import annotations

import pytest

from bake.dockerfile.instructions import instructions
from bake.dockerfile.parser import parse
from bake.dockerfile.stages import Ref, Stages, platform_args, split_stages
from bake.errors import DockerfileError

AUTO = platform_args("linux/amd64", "linux/arm64/v8")

MONOREPO = """\
ARG NODE_VERSION=20
ARG BASE=node:${NODE_VERSION}-alpine
FROM ${BASE} AS base
WORKDIR /app
FROM base AS deps
RUN npm ci
FROM deps AS test
RUN npm test
FROM deps AS builder
ARG MODE=prod
COPY --from=base /app/x /y
RUN npm run build:${MODE}
FROM --platform=$BUILDPLATFORM golang:1.22 AS tools
FROM base AS production
COPY --from=builder /app/dist ./dist
RUN --mount=type=bind,from=tools,source=/go,target=/go true
"""


def stages(text: str, target: str | None = None, build_args: dict[str, str] | None = None,
           contexts: frozenset[str] = frozenset()) -> Stages:
    return split_stages(instructions(parse(text)), build_args or {}, AUTO, target, contexts)


def test_platform_args() -> None:
    assert AUTO["TARGETARCH"] == "arm64" and AUTO["TARGETVARIANT"] == "v8" and AUTO["BUILDOS"] == "linux"


def test_global_args_expand_from_lines_and_build_args_override_them() -> None:
    s = stages(MONOREPO)
    assert s.stages[0].base == Ref("image", "node:20-alpine")
    assert s.global_args == {"NODE_VERSION": "20", "BASE": "node:20-alpine"}
    s2 = stages(MONOREPO, build_args={"NODE_VERSION": "22"})
    assert s2.stages[0].base == Ref("image", "node:22-alpine")
    assert stages(MONOREPO).stages[4].platform == "linux/amd64"


def test_target_needs_only_its_stages_in_dependency_order() -> None:
    s = stages(MONOREPO, target="production")
    assert [s.stages[i].name for i in s.needed] == ["base", "deps", "builder", "tools", "production"]
    assert [s.stages[i].name for i in stages(MONOREPO, target="test").needed] == ["base", "deps", "test"]
    assert stages(MONOREPO).target == 5  # the last stage by default


def test_from_refs_by_index_context_and_image() -> None:
    text = "FROM alpine AS a\nFROM scratch\nCOPY --from=0 /x /x\nCOPY --from=base /y /y\nCOPY --from=busybox /bin/sh /sh\n"
    s = stages(text, contexts=frozenset({"base"}))
    assert s.stages[1].base == Ref("scratch", "")
    assert s.stages[1].deps == (0,)
    assert s.needed == (0, 1)


def test_from_expands_with_stage_args() -> None:
    text = "FROM alpine AS v1\nFROM alpine AS v2\nFROM scratch\nARG V=v2\nCOPY --from=${V} /a /a\n"
    assert stages(text).needed == (1, 2)
    assert stages(text, build_args={"V": "v1"}).needed == (0, 2)


def test_stage_names_are_case_insensitive() -> None:
    s = stages("FROM alpine AS Build\nFROM BUILD\n", target="build")
    assert s.target == 0
    assert stages("FROM alpine AS Build\nFROM BUILD\n").stages[1].base == Ref("stage", "0")


@pytest.mark.parametrize(("text", "kwargs", "message"), [
    ("RUN x\nFROM a\n", {}, "no build stage in current context"),
    ("ARG A\n", {}, "no FROM instruction"),
    ("FROM a AS x\nFROM b AS x\n", {}, 'duplicate stage name "x"'),
    ("FROM a AS 1x\n", {}, "invalid name for build stage"),
    ("FROM ${NOPE}\n", {}, "should not be blank"),
    ("FROM a\n", {"target": "nope"}, 'target stage "nope" could not be found'),
    ("FROM a\nCOPY --from=0 /a /b\n", {}, "refers to current or future build stage"),
    ("ARG X\nFROM ${X:?needed}\n", {}, "X: needed"),
])
def test_stage_errors(text: str, kwargs: dict[str, str], message: str) -> None:
    with pytest.raises(DockerfileError, match=message):
        stages(text, **kwargs)  # type: ignore[arg-type]


def test_later_stages_can_be_named_and_cycles_are_errors() -> None:
    text = "FROM alpine AS first\nCOPY --from=second /x /x\nFROM alpine AS second\nRUN true\n"
    assert stages(text, target="first").needed == (1, 0)
    cyclic = "FROM alpine AS a\nCOPY --from=b /x /x\nFROM a AS b\n"
    with pytest.raises(DockerfileError, match="circular dependency detected on stage"):
        stages(cyclic, target="b")
    assert stages("FROM node AS node\n").stages[0].base == Ref("image", "node")
