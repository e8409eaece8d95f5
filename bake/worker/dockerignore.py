"""``.dockerignore`` patterns, matched exactly as Docker matches them (moby's patternmatcher).

A pattern is cleaned (``./a/`` → ``a``, leading ``/`` dropped); ``*`` matches within one path
element, ``?`` one character, ``[...]`` a class, ``**`` any number of elements, ``\\`` escapes.
A path is excluded if the *last* pattern that matches it — or one of its parent directories —
is not a ``!`` exception. Comments (``#``) and blank lines are ignored.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Iterable

from bake._record import record
from bake.worker.errors import PatternError


@record
class Pattern:
    text: str
    exclusion: bool
    regex: re.Pattern[str]


def parse_dockerignore(text: str) -> list[str]:
    """The pattern lines of a ``.dockerignore`` file."""
    out = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        out.append(line)
    return out


class Matcher:
    """Decides whether a context-relative path is excluded by a list of patterns."""

    def __init__(self, patterns: Iterable[str]) -> None:
        self.patterns: list[Pattern] = []
        for p in patterns:
            exclusion = p.startswith("!")
            body = p[1:].strip() if exclusion else p
            if not body:
                raise PatternError(f"illegal exclusion pattern: {p!r}")
            cleaned = posixpath.normpath(body).lstrip("/") or "."
            if cleaned == ".":
                continue  # a pattern of "." or "/" matches nothing useful (Docker ignores it)
            self.patterns.append(Pattern(p, exclusion, _compile(cleaned)))

    @property
    def has_exclusions(self) -> bool:
        return any(p.exclusion for p in self.patterns)

    def excluded(self, path: str) -> bool:
        """Whether ``path`` (relative, ``/``-separated) is left out of the context."""
        path = posixpath.normpath(path).lstrip("/")
        parents = _parents(path)
        matched = False
        for p in self.patterns:
            if p.exclusion != matched:
                continue  # only a pattern that could change the verdict needs checking
            if p.regex.fullmatch(path) or any(p.regex.fullmatch(parent) for parent in parents):
                matched = not p.exclusion
        return matched


def _parents(path: str) -> list[str]:
    parts = path.split("/")
    return ["/".join(parts[:i]) for i in range(1, len(parts))]


def _compile(pattern: str) -> re.Pattern[str]:
    out: list[str] = []
    i = 0
    n = len(pattern)
    while i < n:
        c = pattern[i]
        if c == "*":
            if pattern.startswith("**", i):
                i += 2
                if i < n and pattern[i] == "/":
                    out.append("(?:.*/)?")  # `**/` also matches no directory at all
                    i += 1
                elif i == n:
                    out.append(".*")
                else:
                    out.append(".*")
                continue
            out.append("[^/]*")
        elif c == "?":
            out.append("[^/]")
        elif c == "[":
            j = pattern.find("]", i + 1)
            if j < 0:
                raise PatternError(f"syntax error in pattern: {pattern!r}")
            body = pattern[i + 1 : j]
            if body.startswith("^") or body.startswith("!"):
                body = "^" + body[1:]
            out.append("[" + body.replace("\\\\", "\\\\\\\\") + "]")
            i = j
        elif c == "\\":
            if i + 1 >= n:
                raise PatternError(f"syntax error in pattern: {pattern!r}")
            i += 1
            out.append(re.escape(pattern[i]))
        else:
            out.append(re.escape(c))
        i += 1
    return re.compile("".join(out), re.S)
