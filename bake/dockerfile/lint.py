"""``--call=check``: BuildKit's Dockerfile lint rules, with the same names, messages, lines and links.

The rules that read the text alone live here: NoEmptyContinuation, ConsistentInstructionCasing,
StageNameCasing, FromAsCasing, MaintainerDeprecated, DuplicateStageName, ReservedStageName. The ones
that need the stages' state (variables, platforms, base images) are in ``lint_dispatch.py``.
``# check=skip=A,B|all;error=true`` is honoured as BuildKit reads it.

Base images are described by an :data:`ImageLookup` (their config's env, shell and platform); where
it is absent or answers None, the rules that depend on a base image stay silent for that stage
rather than guess (BuildKit would fetch the config from the registry).
"""

from __future__ import annotations

import re

from bake._record import record
from bake.dockerfile import instructions as ins
from bake.dockerfile.lint_types import ImageInfo, ImageLookup, Warning
from bake.dockerfile.parser import Document
from bake.errors import DockerfileError

__all__ = ["ImageInfo", "ImageLookup", "Report", "Warning", "check"]

_RESERVED_STAGE_NAMES = frozenset({"context", "scratch"})


@record
class Report:
    """The warnings in line order; ``error`` is `# check=error=true` (warnings fail the build);
    ``failure`` the error that stopped the check (BuildKit reports the warnings found before it)."""

    warnings: tuple[Warning, ...]
    error: bool
    failure: DockerfileError | None = None


# rules BuildKit runs with the file's linter only: a `# check=` comment above an instruction does not reach them
_FILE_RULES = frozenset({"NoEmptyContinuation", "ConsistentInstructionCasing", "DuplicateStageName",
                         "ReservedStageName", "InvalidDefaultArgInFrom", "InvalidBaseImagePlatform"})


def check(doc: Document, instrs: list[ins.Instruction], images: ImageLookup | None = None,
          platform: str = "linux/amd64", comments: dict[int, list[str]] | None = None) -> Report:
    """Lint ``doc``; ``images`` describes base images (``None``: unknown), ``platform`` is the target,
    ``comments`` the comment lines above each instruction (a ``check=skip=…`` there skips rules for it)."""
    from bake.dockerfile.lint_dispatch import dispatch_rules

    skip, skip_all, error = _directive(doc)
    found: list[Warning] = []
    nodes = {n.start_line: n for n in doc.nodes}
    for text in doc.warnings:  # the parser's empty-continuation notes; BuildKit points at the end line
        start = int(text.split(":")[1]) if text.count(":") >= 2 else 1
        end = nodes[start].end_line if start in nodes else start
        found.append(Warning("NoEmptyContinuation", "Empty continuation line", end))
    found.extend(_casing(doc))
    found.extend(_from_rules(doc))
    for node in doc.nodes:
        if node.keyword == "maintainer":
            found.append(Warning("MaintainerDeprecated", "Maintainer instruction is deprecated in favor of using label",
                                 node.start_line))
        elif node.keyword in ("env", "label") and legacy_key_value(node.original):
            kw = node.keyword.upper()
            found.append(Warning("LegacyKeyValueFormat",
                                 f'"{kw} key=value" should be used instead of legacy "{kw} key value" format',
                                 node.start_line))
    failure: DockerfileError | None = None
    try:
        dispatch_rules(doc, instrs, images, platform, found)
    except DockerfileError as err:
        failure = err
    if skip_all:
        return Report((), error, failure)
    local = {line: _comment_skips(lines) for line, lines in (comments or {}).items()}
    kept = sorted((w for w in found if w.rule not in skip and not (
        w.rule not in _FILE_RULES and _skipped(w, local.get(w.line)))), key=lambda w: w.line)  # stable, as BuildKit
    if error and kept and failure is None:  # `error=true`: BuildKit fails the check, naming the rules
        rules = ", ".join(dict.fromkeys(w.rule for w in kept))
        failure = DockerfileError(f"lint violation found for rules: {rules}", doc.file, kept[0].line)
    return Report(tuple(kept), error, failure)


def _directive(doc: Document) -> tuple[frozenset[str], bool, bool]:
    value = doc.directives.get("check", ("", 0))[0]
    skip: set[str] = set()
    skip_all = error = False
    for part in value.split(";", 2):
        key, _, val = part.partition("=")
        key, val = key.strip(), val.strip()
        if key == "skip":
            if val == "all":
                skip_all = True
            else:
                skip.update(v.strip() for v in val.split(","))
        elif key == "error":
            error = val.lower() in ("1", "t", "true")
    return frozenset(skip), skip_all, error


def _comment_skips(lines: list[str]) -> frozenset[str] | None:
    """The rules a ``check=skip=…`` comment above an instruction turns off (``{"all"}``: every one)."""
    for line in lines:
        m = re.match(r"^([a-zA-Z][a-zA-Z0-9]*)[ \t]*=[ \t]*(.+?)[ \t]*$", line)
        if not m or m.group(1).lower() != "check":
            continue
        out: set[str] = set()
        for part in m.group(2).split(" ")[0].split(";", 2):
            key, sep, val = part.partition("=")
            if not sep or key.strip() not in ("skip", "experimental", "error"):
                return None  # BuildKit ignores a comment it cannot read
            if key.strip() == "skip":
                out.update(v.strip() for v in val.strip().split(","))
        return frozenset(out)
    return None


def _skipped(w: Warning, skips: frozenset[str] | None) -> bool:
    return skips is not None and (w.rule in skips or "all" in skips)


def _consistent(word: str) -> bool:
    return word in (word.lower(), word.upper())


def _casing(doc: Document) -> list[Warning]:
    """ConsistentInstructionCasing: global ARGs (before the first FROM) are not counted or checked."""
    first = next((i for i, n in enumerate(doc.nodes) if n.keyword == "from"), len(doc.nodes))
    words = [(n.original.split()[0], n.start_line) for n in doc.nodes[first:]]
    lower = sum(1 for w, _ in words if _consistent(w) and w == w.lower())
    upper = sum(1 for w, _ in words if _consistent(w) and w != w.lower())
    majority_lower = lower > upper
    out = []
    for word, line in words:
        if majority_lower and word != word.lower():
            casing = "lowercase"
        elif not majority_lower and word != word.upper():
            casing = "uppercase"
        else:
            continue
        out.append(Warning("ConsistentInstructionCasing",
                           f"Command '{word}' should match the case of the command majority ({casing})", line))
    return out


def _from_rules(doc: Document) -> list[Warning]:
    out: list[Warning] = []
    seen: set[str] = set()
    for node in doc.nodes:
        if node.keyword != "from" or not node.args:
            continue
        command = node.original.split()[0]
        args = node.args[0].split()
        line = node.start_line
        if len(args) == 3:
            if args[2] != args[2].lower():
                out.append(Warning("StageNameCasing", f"Stage name '{args[2]}' should be lowercase", line))
            if (command == command.lower() and args[1] != args[1].lower()) or \
                    (command == command.upper() and command != command.lower() and args[1] != args[1].upper()):
                out.append(Warning("FromAsCasing", f"'{args[1]}' and '{command}' keywords' casing do not match", line))
            name = args[2].lower()
            if name in _RESERVED_STAGE_NAMES:
                out.append(Warning("ReservedStageName",
                                   f'Stage name should not use the same name as reserved stage "{name}"', line))
            if name in seen:
                out.append(Warning("DuplicateStageName",
                                   f'Duplicate stage name "{name}", stage names should be unique', line))
            seen.add(name)
    return out


def legacy_key_value(original: str) -> bool:
    """``ENV key value`` / ``LABEL key value``: the first word (quotes respected) has no ``=``."""
    rest = original.split(None, 1)[1] if len(original.split(None, 1)) == 2 else ""
    word = re.match(r"""(?:"(?:\\.|[^"])*"|'[^']*'|\\.|[^\s"'\\])*""", rest)
    return word is not None and "=" not in word.group(0)
