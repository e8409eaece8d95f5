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
    text, count, failed = call_check(NOISY, "Dockerfile")
    assert (count, failed) == (7, True)  # buildx exits 1 when a check finds warnings
    assert text.startswith("Check complete, 7 warnings have been found!")
    assert "WARNING: JSONArgsRecommended - https://docs.docker.com/go/dockerfile/rule/json-args-recommended/" in text
    assert "   7 | >>> CMD echo hi" in text
    assert call_check('FROM a\nCMD ["x"]\n', "Dockerfile") == ("Check complete, no warnings found.\n", 0, False)


def test_check_errors_fail_with_the_warnings_found_before() -> None:
    text, count, failed = call_check("FROM a\nENV A b\nRUN <<EOF\necho\n", "Dockerfile")
    assert (count, failed) == (0, True) and "ERROR: unterminated heredoc" in text
    assert call_check("", "Dockerfile")[0].startswith("ERROR: the Dockerfile cannot be empty")
    text, count, failed = call_check("# check=error=true\nFROM a\nENV A b\n", "Dockerfile")
    assert (count, failed) == (1, True) and "ERROR: lint violation found for rules: LegacyKeyValueFormat" in text


DESCRIBED = """\
# BASE the image to start from
ARG BASE=alpine
# base is the shared stage
FROM ${BASE} AS base
# VERSION sets the version
ARG VERSION=1.0
RUN --mount=type=secret,id=aws,required --mount=type=ssh true
# not a description: it does not start with the stage's name
FROM base AS release
FROM scratch AS other
"""


def test_targets_and_outline() -> None:
    # BuildKit lists every stage and marks the last one the default, whatever the target
    assert call_targets(DESCRIBED, "Dockerfile", "release") == (
        "TARGET          DESCRIPTION\n"
        "base            is the shared stage\n"
        "release         \n"
        "other (default) \n"
    )
    assert call_outline(DESCRIBED, "Dockerfile", "release", {"VERSION": "2"}).splitlines() == [
        "TARGET:      release", "",
        "BUILD ARG   VALUE    DESCRIPTION", "BASE        alpine   the image to start from", "VERSION     2        sets the version", "",
        "SECRET   REQUIRED", "aws      true", "",
        "SSH       REQUIRED", "default   false",
    ]
