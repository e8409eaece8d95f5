"""Dockerfile text → nodes with line ranges, following BuildKit's Dockerfile frontend 1.x.

Handles parser directives (``# syntax=``, ``# escape=``, ``# check=``), both escape characters,
line continuations (with comments and empty lines inside), CRLF, a BOM, case-insensitive
keywords, JSON and shell forms, leading ``--flags``, and heredocs (``<<EOF``, ``<<-EOF``,
quoted delimiters, several per instruction). Typed instructions are built from nodes by
``instructions.py``; nothing here expands variables.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator

from bake._record import record
from bake.errors import DockerfileError

INSTRUCTIONS = frozenset({
    "add", "arg", "cmd", "copy", "entrypoint", "env", "expose", "from", "healthcheck", "label", "maintainer",
    "onbuild", "run", "shell", "stopsignal", "user", "volume", "workdir",
})
HEREDOC_INSTRUCTIONS = frozenset({"run", "copy", "add"})
JSON_INSTRUCTIONS = frozenset({"run", "cmd", "entrypoint", "shell", "copy", "add", "volume"})
KNOWN_DIRECTIVES = frozenset({"syntax", "escape", "check"})

_DIRECTIVE = re.compile(r"^#[ \t]*([a-zA-Z][a-zA-Z0-9]*)[ \t]*=[ \t]*(.+?)[ \t]*$")
_HEREDOC = re.compile(r"(?:^|\s)[0-9]*<<(-?)(?:\"([^\"\s]+)\"|'([^'\s]+)'|([a-zA-Z_][a-zA-Z0-9_.-]*))")


@record
class Heredoc:
    """A here-document: ``name`` is its delimiter; ``chomp`` strips leading tabs (``<<-``);
    ``expand`` is false when the delimiter was quoted."""

    name: str
    content: str
    chomp: bool
    expand: bool

    def text(self) -> str:
        """The body as commands and files see it (leading tabs removed for ``<<-``)."""
        if not self.chomp:
            return self.content
        return "".join(ln.lstrip("\t") for ln in self.content.splitlines(keepends=True))


@record
class Node:
    """One instruction: ``keyword`` lower-case; ``flags`` the leading ``--name[=value]`` words;
    ``args`` the rest — a list of strings in JSON form, else one string in shell form."""

    keyword: str
    flags: tuple[str, ...]
    args: tuple[str, ...]
    json: bool
    original: str
    start_line: int
    end_line: int
    heredocs: tuple[Heredoc, ...] = ()
    sub: Node | None = None  # the instruction an ONBUILD wraps


@record
class Document:
    """A parsed Dockerfile: its directives (name → (value, line)), escape character and nodes."""

    file: str
    directives: dict[str, tuple[str, int]]
    escape: str
    nodes: tuple[Node, ...]
    warnings: tuple[str, ...] = ()
    comments: dict[int, str] | None = None  # instruction line → the comment just above it


def decode(data: bytes, file: str = "Dockerfile") -> str:
    """A Dockerfile's text; bytes that are not UTF-8 are a ``DockerfileError`` at their line and column."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as err:
        before = data[: err.start].decode("utf-8")
        line = before.count("\n") + 1
        col = len(before) - (before.rfind("\n") + 1) + 1
        text = data.decode("utf-8", "replace").split("\n")[line - 1]
        raise DockerfileError(f"invalid UTF-8: byte 0x{data[err.start]:02x} is not valid UTF-8 text; "
                              "Dockerfiles must be UTF-8 encoded", file, line, col, text) from None


def parse(text: str, file: str = "Dockerfile") -> Document:
    """Parse Dockerfile ``text``; a mistake raises ``DockerfileError`` at its line."""
    if text.startswith("\ufeff"):
        text = text[1:]
    lines = [ln[:-1] if ln.endswith("\r") else ln for ln in text.split("\n")]
    directives, first = _directives(lines, file)
    escape = directives.get("escape", ("\\", 0))[0]
    if escape not in ("\\", "`"):
        raise DockerfileError(f"invalid escape token {escape!r} does not match ` or \\", file, directives["escape"][1])
    nodes: list[Node] = []
    warnings: list[str] = []
    comments: dict[int, str] = {}
    it = _Lines(lines, first)
    for start, logical, end in _logical_lines(it, escape, warnings, file, comments):
        node = _node(logical, start, end, file, escape)
        if node.keyword in HEREDOC_INSTRUCTIONS:
            node = _attach_heredocs(node, it, file)
        nodes.append(node)
    return Document(file, directives, escape, tuple(nodes), tuple(warnings), comments)


def _directives(lines: list[str], file: str) -> tuple[dict[str, tuple[str, int]], int]:
    """Directives count only at the very top: the first other line (even blank) ends them."""
    found: dict[str, tuple[str, int]] = {}
    for i, line in enumerate(lines):
        m = _DIRECTIVE.match(line)
        if not m or m.group(1).lower() not in KNOWN_DIRECTIVES:
            return found, i
        name = m.group(1).lower()
        if name in found:
            raise DockerfileError(f"only one {name} parser directive can be used", file, i + 1)
        found[name] = (m.group(2), i + 1)
    return found, len(lines)


class _Lines:
    """A cursor over physical lines (1-based numbers), shared by instructions and heredocs."""

    def __init__(self, lines: list[str], start: int) -> None:
        self.lines = lines
        self.i = start

    def next(self) -> tuple[int, str] | None:
        if self.i >= len(self.lines):
            return None
        self.i += 1
        return self.i, self.lines[self.i - 1]


def _is_comment(line: str) -> bool:
    return line.lstrip(" \t").startswith("#")


def _logical_lines(
    it: _Lines, escape: str, warnings: list[str], file: str, comments: dict[int, str]
) -> Iterator[tuple[int, str, int]]:
    """(start line, joined text, end line) per instruction; comments and blank lines skipped
    (the comment lines right above an instruction are kept in ``comments``)."""
    cont = re.compile(re.escape(escape) + r"[ \t]*$")
    pending: list[str] = []
    while True:
        got = it.next()
        if got is None:
            return
        start, line = got
        line = line.lstrip(" \t")
        if not line:
            pending.clear()
            continue
        if _is_comment(line):
            pending.append(line.lstrip("#").strip())
            continue
        if pending:
            comments[start] = " ".join(pending)
            pending.clear()
        end = start
        text, more = cont.sub("", line), bool(cont.search(line))
        empty_continuation = False
        while more:
            got = it.next()
            if got is None:
                break
            end, nxt = got
            if _is_comment(nxt):
                continue
            if not nxt.strip():
                empty_continuation = True
                continue
            more = bool(cont.search(nxt))
            text += cont.sub("", nxt)
        if empty_continuation:
            warnings.append(f"{file}:{start}: empty continuation lines will become errors in a future release")
        yield start, text, end


def _node(text: str, start: int, end: int, file: str, escape: str) -> Node:
    word, _, rest = text.partition(" ") if " " in text.split("\t")[0] else text.partition("\t")
    keyword = word.lower()
    if keyword not in INSTRUCTIONS:
        import difflib

        near = difflib.get_close_matches(keyword, sorted(INSTRUCTIONS), n=1, cutoff=0.6)
        hint = f" (did you mean {near[0]}?)" if near else ""  # BuildKit names the instruction in lower case
        raise DockerfileError(f"unknown instruction: {word}{hint}", file, start, 1, text)
    rest = rest.strip(" \t")
    flags: list[str] = []
    if keyword != "onbuild":
        flags, rest = _split_flags(rest)
    sub = None
    if keyword == "onbuild":
        if not rest:
            raise DockerfileError("ONBUILD requires at least one argument", file, start, 1, text)
        sub = _node(rest, start, end, file, escape)
        if sub.keyword in ("onbuild", "from", "maintainer"):
            raise DockerfileError(f"{sub.keyword.upper()} isn't allowed as an ONBUILD trigger", file, start, 1, text)
        return Node(keyword, (), (rest,), False, text, start, end, (), sub)
    if keyword in JSON_INSTRUCTIONS and rest.startswith("["):
        try:
            value = json.loads(rest)
        except (json.JSONDecodeError, RecursionError):  # not JSON (or nested beyond reason): shell form
            value = None
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            return Node(keyword, tuple(flags), tuple(value), True, text, start, end)
        if isinstance(value, list):  # valid JSON, but not all strings: BuildKit refuses it
            raise DockerfileError("when using JSON array syntax, arrays must be comprised of strings only",
                                  file, start, 1, text)
    return Node(keyword, tuple(flags), (rest,) if rest else (), False, text, start, end)


def _split_flags(rest: str) -> tuple[list[str], str]:
    """Leading ``--flag`` words (BuildKit extracts them for every instruction)."""
    flags: list[str] = []
    while rest.startswith("--"):
        m = re.match(r"(\S+)\s*", rest)
        assert m is not None
        word = m.group(1)
        if word == "--":
            break
        flags.append(word)
        rest = rest[m.end():]
    return flags, rest


def _attach_heredocs(node: Node, it: _Lines, file: str) -> Node:
    if node.json or not node.args:
        return node
    markers = [(m.group(1) == "-", m.group(2) or m.group(3) or m.group(4), m.group(4) is not None)
               for m in _HEREDOC.finditer(node.args[0])]
    if not markers:
        return node
    docs: list[Heredoc] = []
    end = node.end_line
    for chomp, name, expand in markers:
        body: list[str] = []
        while True:
            got = it.next()
            if got is None:
                raise DockerfileError("unterminated heredoc", file, node.start_line, 1, node.original)  # as BuildKit words it
            end, line = got
            if (line.lstrip("\t") if chomp else line) == name:
                break
            body.append(line + "\n")
        docs.append(Heredoc(name, "".join(body), chomp, expand))
    return Node(node.keyword, node.flags, node.args, node.json, node.original, node.start_line, end, tuple(docs))
