"""``--call=check``: BuildKit's Dockerfile lint rules, with the same names, messages and links.

Rules: StageNameCasing, FromAsCasing, JSONArgsRecommended, MaintainerDeprecated,
ConsistentInstructionCasing, NoEmptyContinuation, LegacyKeyValueFormat, WorkdirRelativePath,
UndefinedVar (where the stage's variables are knowable: its base is scratch or another stage).
DuplicateStageName is an error in the parser. ``# check=skip=A,B;error=true`` is honoured.
"""

from __future__ import annotations

import re

from bake._record import record
from bake.dockerfile import instructions as ins
from bake.dockerfile.parser import Document

URL = "https://docs.docker.com/go/dockerfile/rule/{}/"
_VAR_REF = re.compile(r"\$(?:\{([A-Za-z_][A-Za-z0-9_]*)|([A-Za-z_][A-Za-z0-9_]*))")
_ALWAYS_DEFINED = frozenset({"PATH", "HOME", "HOSTNAME", "TERM", "HTTP_PROXY", "HTTPS_PROXY", "FTP_PROXY",
                             "NO_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "ftp_proxy", "no_proxy", "all_proxy"})


@record
class Warning:
    rule: str
    message: str
    line: int

    @property
    def url(self) -> str:
        return URL.format(re.sub(r"(?<!^)(?=[A-Z])", "-", self.rule).lower().replace("j-s-o-n", "json"))


@record
class Report:
    warnings: tuple[Warning, ...]
    error: bool  # `# check=error=true`: warnings fail the build


def check(doc: Document, instrs: list[ins.Instruction]) -> Report:
    skip, error = _directive(doc)
    found: list[Warning] = []
    for text in doc.warnings:
        line = int(text.split(":")[1]) if text.count(":") >= 2 else 1
        found.append(Warning("NoEmptyContinuation", "Empty continuation line", line))
    majority_upper = sum(1 for n in doc.nodes if n.original.split()[0].isupper()) * 2 >= len(doc.nodes)
    for node in doc.nodes:
        word = node.original.split()[0]
        if (word.isupper() != majority_upper) and word.upper() != word.lower():
            casing = "uppercase" if majority_upper else "lowercase"
            found.append(Warning("ConsistentInstructionCasing",
                                 f"Command '{word}' should match the case of the command majority ({casing})", node.start_line))
    originals = {n.start_line: n.original for n in reversed(doc.nodes)}  # the first node on a line wins
    for inst in instrs:
        found.extend(_rules(inst, originals.get(inst.loc.start_line, "")))
    found.extend(_undefined_vars(instrs))
    if "all" in skip:
        return Report((), error)
    kept = tuple(sorted((w for w in found if w.rule not in skip), key=lambda w: (w.line, w.rule)))
    return Report(kept, error)


def _directive(doc: Document) -> tuple[frozenset[str], bool]:
    value = doc.directives.get("check", ("", 0))[0]
    skip: set[str] = set()
    error = False
    for part in value.split(";"):
        key, _, val = part.strip().partition("=")
        if key == "skip":
            skip.update(v.strip() for v in val.split(",") if v.strip())
        elif key == "error":
            error = val.strip().lower() == "true"
    return frozenset(skip), error


def _rules(inst: ins.Instruction, original: str) -> list[Warning]:
    """The rules that look at one instruction; ``original`` is its source text."""
    out: list[Warning] = []
    line = inst.loc.start_line
    if isinstance(inst, ins.From):
        if inst.name is not None:
            raw_name = original.split()[-1]
            if raw_name != raw_name.lower():
                out.append(Warning("StageNameCasing", f"Stage name '{raw_name}' should be lowercase", line))
            words = original.split()
            as_word = words[-2] if len(words) >= 4 else ""
            if as_word and words[0].isupper() != as_word.isupper():
                out.append(Warning("FromAsCasing", "'as' and 'FROM' keywords' casing do not match", line))
    elif isinstance(inst, ins.Cmd | ins.Entrypoint) and inst.command.shell:
        kw = "CMD" if isinstance(inst, ins.Cmd) else "ENTRYPOINT"
        out.append(Warning("JSONArgsRecommended",
                           f"JSON arguments recommended for {kw} to prevent unintended behavior related to OS signals", line))
    elif isinstance(inst, ins.Maintainer):
        out.append(Warning("MaintainerDeprecated", "Maintainer instruction is deprecated in favor of using label", line))
    elif isinstance(inst, ins.Env | ins.Label):
        words = original.split(None, 1)
        if len(words) == 2 and "=" not in words[1].split()[0]:
            kw = words[0].upper()
            out.append(Warning("LegacyKeyValueFormat",
                               f'"{kw} key=value" should be used instead of legacy "{kw} key value" format', line))
    elif isinstance(inst, ins.Workdir) and not inst.path.startswith(("/", "$")) and not re.match(r"^[A-Za-z]:", inst.path):
        out.append(Warning("WorkdirRelativePath",
                           f"Relative workdir '{inst.path}' can have unexpected results if the base image changes", line))
    return out


def _undefined_vars(instrs: list[ins.Instruction]) -> list[Warning]:
    out: list[Warning] = []
    stage_vars: dict[str, set[str]] = {}
    known: set[str] | None = None
    current: str | None = None
    for inst in instrs:
        if isinstance(inst, ins.From):
            base = inst.image.lower()
            if base == "scratch":
                known = set()
            elif base in stage_vars:
                known = set(stage_vars[base])
            else:
                known = None  # an image: its environment is not known offline
            if inst.name:
                stage_vars[inst.name] = known if known is not None else set()
            current = inst.name
            continue
        if known is None:
            continue
        for word in _expanded_words(inst):
            for m in _VAR_REF.finditer(word):
                name = m.group(1) or m.group(2)
                if name not in known and name not in _ALWAYS_DEFINED:
                    out.append(Warning("UndefinedVar", f"Usage of undefined variable '${name}'", inst.loc.start_line))
        if isinstance(inst, ins.Arg | ins.Env):
            known.update(name for name, _ in inst.pairs)
            if current:
                stage_vars[current] = known
    return out


def _expanded_words(inst: ins.Instruction) -> list[str]:
    """The words BuildKit expands for an instruction (RUN/CMD/ENTRYPOINT are left to the shell)."""
    if isinstance(inst, ins.Env | ins.Label):
        return [v for _, v in inst.pairs if not v.startswith("'")]
    if isinstance(inst, ins.Arg):
        return [v for _, v in inst.pairs if v]
    if isinstance(inst, ins.Workdir):
        return [inst.path]
    if isinstance(inst, ins.User):
        return [inst.user]
    if isinstance(inst, ins.Copy):
        return [*inst.sources, inst.dest]
    if isinstance(inst, ins.Expose):
        return list(inst.ports)
    if isinstance(inst, ins.Volume):
        return list(inst.paths)
    return []
