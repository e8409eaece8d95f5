"""Parser nodes → typed instructions, with BuildKit's flag rules (``flags.py``) and argument forms.

Words stay unexpanded here: which words expand, and with which ARG/ENV values, depends on the
stage being converted (``convert*.py``). Each instruction keeps its source lines.
"""

from __future__ import annotations

import re

from bake._record import record
from bake.dockerfile.flags import flag_list, parse_flags
from bake.dockerfile.mounts import Fail, Mount, parse_mount
from bake.dockerfile.parser import Document, Heredoc, Node
from bake.errors import DockerfileError


@record
class Location:
    file: str
    start_line: int
    end_line: int


@record
class Command:
    """A RUN/CMD/ENTRYPOINT/HEALTHCHECK command: exec form (``shell=False``) or one shell string."""

    args: tuple[str, ...]
    shell: bool


@record
class From:
    loc: Location
    image: str
    name: str | None
    platform: str | None


@record
class Arg:
    loc: Location
    pairs: tuple[tuple[str, str | None], ...]


@record
class Env:
    loc: Location
    pairs: tuple[tuple[str, str], ...]


@record
class Label:
    loc: Location
    pairs: tuple[tuple[str, str], ...]


@record
class Run:
    loc: Location
    command: Command
    heredocs: tuple[Heredoc, ...]
    mounts: tuple[Mount, ...]
    network: str | None
    security: str | None
    original: str = ""  # the instruction as written (continuations joined): BuildKit names the step by it


@record
class Cmd:
    loc: Location
    command: Command


@record
class Entrypoint:
    loc: Location
    command: Command


@record
class Shell:
    loc: Location
    args: tuple[str, ...]


@record
class Expose:
    loc: Location
    ports: tuple[str, ...]


@record
class Workdir:
    loc: Location
    path: str
    original: str = ""  # the instruction as written: BuildKit names the step by it


@record
class User:
    loc: Location
    user: str


@record
class Volume:
    loc: Location
    paths: tuple[str, ...]


@record
class StopSignal:
    loc: Location
    signal: str


@record
class Maintainer:
    loc: Location
    name: str


@record
class Healthcheck:
    """``HEALTHCHECK NONE`` (``command`` None) or ``HEALTHCHECK [options] CMD …``; durations raw."""

    loc: Location
    command: Command | None
    interval: str | None = None
    timeout: str | None = None
    start_period: str | None = None
    start_interval: str | None = None
    retries: int | None = None


@record
class Copy:
    """COPY and ADD (``add`` True). ``sources`` may name heredocs (``<<EOF``)."""

    loc: Location
    add: bool
    sources: tuple[str, ...]
    dest: str
    heredocs: tuple[Heredoc, ...]
    from_: str | None = None
    chown: str | None = None
    chmod: str | None = None
    link: bool = False
    parents: bool = False
    exclude: tuple[str, ...] = ()
    keep_git_dir: bool | None = None
    checksum: str | None = None
    unpack: bool | None = None
    original: str = ""  # the instruction as written: BuildKit names the step by it


@record
class Onbuild:
    loc: Location
    expression: str
    trigger: Instruction


Instruction = (
    From | Arg | Env | Label | Run | Cmd | Entrypoint | Shell | Expose | Workdir | User | Volume | StopSignal
    | Maintainer | Healthcheck | Copy | Onbuild
)


def instructions(doc: Document) -> list[Instruction]:
    """Every node of ``doc`` as a typed instruction."""
    return [build(n, doc.file, doc.escape) for n in doc.nodes]


def build(node: Node, file: str, escape: str = "\\") -> Instruction:
    loc = Location(file, node.start_line, node.end_line)

    def fail(msg: str) -> DockerfileError:
        return DockerfileError(msg, file, node.start_line, 1, node.original.split("\n")[0])

    flags = parse_flags(node, fail)
    kw = node.keyword
    args = node.args
    text = args[0] if args and not node.json else ""
    if kw not in ("cmd", "entrypoint", "run", "healthcheck", "shell") and not args and kw != "onbuild":
        raise fail(f"{kw.upper()} requires at least one argument")
    if kw == "from":
        words = text.split()
        if len(words) == 3 and words[1].lower() == "as":
            return From(loc, words[0], words[2].lower(), flags.get("platform"))  # type: ignore[arg-type]
        if len(words) != 1:
            raise fail("FROM requires either one or three arguments")
        return From(loc, words[0], None, flags.get("platform"))  # type: ignore[arg-type]
    if kw == "arg":
        pairs = []
        for w in _words(text, escape):
            name, sep, default = w.partition("=")
            if not name:
                raise fail("ARG names can not be blank")
            pairs.append((name, default if sep else None))
        return Arg(loc, tuple(pairs))
    if kw in ("env", "label"):
        pairs2 = _name_values(kw, text, escape, fail)
        return Env(loc, pairs2) if kw == "env" else Label(loc, pairs2)
    if kw == "run":
        mounts = tuple(parse_mount(m, fail) for m in flag_list(flags, "mount"))
        return Run(loc, _command(node, fail, allow_empty=False), node.heredocs, mounts,
                   flags.get("network"), flags.get("security"), node.original)  # type: ignore[arg-type]
    if kw == "cmd":
        return Cmd(loc, _command(node, fail))
    if kw == "entrypoint":
        return Entrypoint(loc, _command(node, fail))
    if kw == "shell":
        if not node.json:
            raise fail("SHELL requires the arguments to be in JSON form")
        if not args:
            raise fail("SHELL requires at least one argument")
        return Shell(loc, args)
    if kw == "expose":
        return Expose(loc, tuple(text.split()))
    if kw == "workdir":
        return Workdir(loc, text, node.original)
    if kw == "user":
        return User(loc, text)
    if kw == "volume":
        paths = args if node.json else tuple(text.split())
        if not paths or any(not p.strip() for p in paths):
            raise fail("VOLUME specified can not be an empty string")
        return Volume(loc, paths)
    if kw == "stopsignal":
        return StopSignal(loc, text)
    if kw == "maintainer":
        return Maintainer(loc, text)
    if kw == "healthcheck":
        return _healthcheck(node, loc, flags, fail)
    if kw in ("copy", "add"):
        return _copy(node, loc, flags, fail, escape)
    assert kw == "onbuild" and node.sub is not None
    return Onbuild(loc, node.args[0], build(node.sub, file, escape))



def _command(node: Node, fail: Fail, allow_empty: bool = True) -> Command:
    if node.json:
        return Command(node.args, shell=False)
    if not node.args and not allow_empty:
        raise fail(f"{node.keyword.upper()} requires at least one argument")
    return Command(node.args, shell=True)


def _healthcheck(node: Node, loc: Location, flags: dict[str, object], fail: Fail) -> Healthcheck:
    text = node.args[0] if node.args and not node.json else ""
    word, _, rest = text.partition(" ")
    if word.upper() == "NONE":
        if rest.strip() or flags:
            raise fail("HEALTHCHECK NONE takes no arguments")
        return Healthcheck(loc, None)
    if word.upper() != "CMD":
        raise fail("Unknown type for healthcheck: " + word)
    rest = rest.strip()
    if rest.startswith("["):
        import json

        try:
            value = json.loads(rest)
        except json.JSONDecodeError:
            value = None
        command = Command(tuple(value), shell=False) if isinstance(value, list) else Command((rest,), shell=True)
    else:
        command = Command((rest,), shell=True)
    if not command.args or not command.args[0]:
        raise fail("Missing command after HEALTHCHECK CMD")
    for name in ("interval", "timeout", "start-period", "start-interval"):
        value = flags.get(name)
        if value is not None and not _DURATION.match(str(value)):
            raise fail(f'time: invalid duration "{value}"')
    retries = None
    if "retries" in flags:
        try:
            retries = int(str(flags["retries"]))
        except ValueError:
            raise fail(f"invalid retries value: {flags['retries']}") from None
        if retries < 0:
            raise fail("--retries cannot be negative")
    return Healthcheck(loc, command, flags.get("interval"), flags.get("timeout"),  # type: ignore[arg-type]
                       flags.get("start-period"), flags.get("start-interval"), retries)  # type: ignore[arg-type]


def _copy(node: Node, loc: Location, flags: dict[str, object], fail: Fail, escape: str) -> Copy:
    add = node.keyword == "add"
    words = list(node.args) if node.json else _words(node.args[0], escape) if node.args else []
    if len(words) < 2:
        raise fail(f"{node.keyword.upper()} requires at least two arguments, but only one was provided. "
                   "Destination could not be determined")
    return Copy(
        loc, add, tuple(words[:-1]), words[-1], node.heredocs,
        from_=flags.get("from"), chown=flags.get("chown"), chmod=flags.get("chmod"),  # type: ignore[arg-type]
        link=bool(flags.get("link", False)), parents=bool(flags.get("parents", False)),
        exclude=tuple(flag_list(flags, "exclude")),
        keep_git_dir=flags.get("keep-git-dir") if add else None,  # type: ignore[arg-type]
        checksum=flags.get("checksum") if add else None,  # type: ignore[arg-type]
        unpack=flags.get("unpack") if add else None,  # type: ignore[arg-type]
        original=node.original,
    )


def _words(text: str, escape: str) -> list[str]:
    """Whitespace-separated words, quotes and escapes kept (they are removed when expanding)."""
    words: list[str] = []
    cur: list[str] = []
    quote = ""
    i = 0
    in_word = False
    while i < len(text):
        c = text[i]
        if not quote and c in " \t\n":
            if in_word:
                words.append("".join(cur))
                cur, in_word = [], False
            i += 1
            continue
        in_word = True
        if c == escape and i + 1 < len(text) and quote != "'":
            cur.append(c + text[i + 1])
            i += 2
            continue
        if c in "'\"":
            if not quote:
                quote = c
            elif quote == c:
                quote = ""
        cur.append(c)
        i += 1
    if in_word:
        words.append("".join(cur))
    return words


def _name_values(kw: str, text: str, escape: str, fail: Fail) -> tuple[tuple[str, str], ...]:
    """ENV and LABEL: ``k=v k2="v 2"``, or the legacy ``ENV key value with spaces``."""
    words = _words(text, escape)
    if not words:
        raise fail(f"{kw.upper()} requires at least one argument")
    if "=" not in words[0]:
        name, _, value = text.strip().partition(" ") if " " in text.strip() else text.strip().partition("\t")
        if not value.strip():
            raise fail(f"{kw.upper()} must have two arguments")
        return ((name, value.strip()),)
    pairs = []
    for w in words:
        name, sep, value = w.partition("=")
        if not sep:
            raise fail(f'Syntax error - can\'t find = in "{w}". Must be of the form: name=value')
        if not name:
            raise fail(f"{kw.upper()} names can not be blank")
        pairs.append((name, value))
    return tuple(pairs)


_DURATION = re.compile(r"^(\d+(\.\d+)?(ns|us|µs|ms|s|m|h))+$")
