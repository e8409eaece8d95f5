"""--call=check: BuildKit's lint rules by name; --call=targets and --call=outline."""

from __future__ import annotations

from bake.dockerfile.calls import call_check, call_outline, call_targets
from bake.dockerfile.instructions import instructions
from bake.dockerfile.lint import check
from bake.dockerfile.parser import parse

NOISY = """\
FROM alpine AS Build
MAINTAINER me
ENV A b
WORKDIR rel
from scratch as final
COPY --from=build $UNDEF /x
CMD echo hi
"""


def rules(text: str) -> list[tuple[str, int]]:
    doc = parse(text)
    return [(w.rule, w.line) for w in check(doc, instructions(doc)).warnings]


def test_rules_fire_where_buildkit_fires_them() -> None:
    assert rules(NOISY) == [
        ("StageNameCasing", 1), ("MaintainerDeprecated", 2), ("LegacyKeyValueFormat", 3),
        ("WorkdirRelativePath", 4), ("ConsistentInstructionCasing", 5),
        ("UndefinedVar", 6), ("JSONArgsRecommended", 7),
    ]
    assert rules("FROM alpine as base\nCMD [\"x\"]\n") == [("FromAsCasing", 1)]
    assert rules("FROM alpine AS base\nARG V\nENV X=$V\nCMD [\"x\"]\n") == []


def test_check_directive_skips_rules_and_sets_error() -> None:
    doc = parse("# check=skip=JSONArgsRecommended,StageNameCasing;error=true\nFROM a AS B\nCMD x\n")
    report = check(doc, instructions(doc))
    assert report.warnings == () and report.error
    assert rules("# check=skip=all\n" + NOISY) == []


def test_check_report_text() -> None:
    text, count = call_check(NOISY, "Dockerfile")
    assert count == 7
    assert text.startswith("Check complete, 7 warnings have been found!")
    assert "WARNING: JSONArgsRecommended - https://docs.docker.com/go/dockerfile/rule/json-args-recommended/" in text
    assert "   7 | >>> CMD echo hi" in text
    assert call_check('FROM a\nCMD ["x"]\n', "Dockerfile") == ("Check complete, no warnings found.\n", 0)


DESCRIBED = """\
# global version
ARG BASE=alpine
# the base stage
FROM ${BASE} AS base
# sets the version
ARG VERSION=1.0
RUN --mount=type=secret,id=aws,required --mount=type=ssh true
FROM base AS release
FROM scratch AS other
"""


def test_targets_and_outline() -> None:
    assert call_targets(DESCRIBED, "Dockerfile", "release").splitlines() == [
        "TARGET              DESCRIPTION", "base                the base stage", "release (default)", "other",
    ]
    assert call_outline(DESCRIBED, "Dockerfile", "release", {"VERSION": "2"}).splitlines() == [
        "TARGET:      release", "",
        "BUILD ARG   VALUE    DESCRIPTION", "BASE        alpine   global version", "VERSION     2        sets the version", "",
        "SECRET   REQUIRED", "aws      true", "",
        "SSH       REQUIRED", "default   false",
    ]
