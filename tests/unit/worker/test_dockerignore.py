""".dockerignore matching as Docker does it: last match wins, parents count, ** spans directories."""

from __future__ import annotations

import pytest

from bake.worker.dockerignore import Matcher, parse_dockerignore
from bake.worker.errors import PatternError

IGNORE = """
# comments and blank lines are skipped
*.md
!README.md
node_modules
**/*.log
docs/**
/build/
temp?
a/*/c
**/secret
"""


@pytest.mark.parametrize(("path", "excluded"), [
    ("x.md", True), ("README.md", False), ("sub/x.md", False), ("node_modules/a/b.js", True),
    ("a.log", True), ("deep/x/y.log", True), ("docs/a/b", True), ("docs", False), ("build/out", True),
    ("temp1", True), ("temp12", False), ("a/b/c", True), ("a/b/d/c", False), ("secret", True),
    ("x/y/secret", True), ("src/main.go", False), ("./x.md", True),
])
def test_patterns(path: str, excluded: bool) -> None:
    assert Matcher(parse_dockerignore(IGNORE)).excluded(path) is excluded


def test_exceptions_reinclude_inside_excluded_directories() -> None:
    m = Matcher(["dist", "!dist/keep.txt"])
    assert m.excluded("dist/other") and not m.excluded("dist/keep.txt") and m.has_exclusions


def test_order_matters() -> None:
    assert not Matcher(["*.txt", "!a.txt"]).excluded("a.txt")
    assert Matcher(["!a.txt", "*.txt"]).excluded("a.txt")


@pytest.mark.parametrize("bad", ["[abc", "trailing\\", "!"])
def test_malformed_patterns(bad: str) -> None:
    with pytest.raises(PatternError):
        Matcher([bad])


@pytest.mark.parametrize(("pattern", "path", "excluded"), [
    ("file[0-9].txt", "file7.txt", True), ("file[0-9].txt", "filex.txt", False),
    ("file[^0-9].txt", "filex.txt", True), ("file[^0-9].txt", "file7.txt", False),
    ("\\*.txt", "*.txt", True), ("\\*.txt", "a.txt", False),  # an escaped star is a star
    ("logs/**", "logs/a/b.log", True), ("logs/**", "logsx/a", False),
    ("**", "anything/at/all", True),
    (".", "x", False), ("/", "x", False),  # the context root itself: ignored, as Docker does
])
def test_classes_escapes_and_globstars(pattern: str, path: str, excluded: bool) -> None:
    assert Matcher([pattern]).excluded(path) is excluded


def test_patterns_without_exclusions() -> None:
    assert not Matcher(["*.md"]).has_exclusions
