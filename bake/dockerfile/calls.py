"""``--call=check|targets|outline``: what BuildKit's frontend answers instead of building."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from bake._record import record
from bake.dockerfile import instructions as ins
from bake.dockerfile.lint import Warning, check
from bake.dockerfile.parser import Document, parse
from bake.dockerfile.stages import platform_args, split_stages
from bake.errors import DockerfileError


def call_check(text: str, file: str) -> tuple[str, int]:
    """(report, warning count); each warning shows its rule, link, message and source line."""
    doc = parse(text, file)
    report = check(doc, ins.instructions(doc))
    lines = text.split("\n")
    out: list[str] = []
    for w in report.warnings:
        out.append(f"WARNING: {w.rule} - {w.url}")
        out.append(w.message)
        out.append(f"{file}:{w.line}")
        out.append("-" * 20)
        for n in range(max(w.line - 2, 1), min(w.line + 2, len(lines)) + 1):
            mark = ">>>" if n == w.line else "   "
            out.append(f" {n:3d} | {mark} {lines[n - 1]}")
        out.append("-" * 20)
        out.append("")
    count = len(report.warnings)
    if count:
        head = f"Check complete, {count} warning{'s' if count != 1 else ''} {'have' if count != 1 else 'has'} been found!"
    else:
        head = "Check complete, no warnings found."
    return "\n".join([head, "", *out]).rstrip("\n") + "\n", count


def call_targets(text: str, file: str, target: str | None) -> str:
    """The Dockerfile's stages; the one a build would produce is marked ``(default)``."""
    doc = parse(text, file)
    stages = split_stages(ins.instructions(doc), {}, platform_args("linux/amd64", "linux/amd64"), target)
    rows = [["TARGET", "DESCRIPTION"]]
    for s in stages.stages:
        if s.name is None:
            continue
        rows.append([s.name + (" (default)" if s.index == stages.target else ""), _description(doc, s.loc.start_line)])
    width = max(len(r[0]) for r in rows) + 3
    return "\n".join(f"{r[0].ljust(width)}{r[1]}".rstrip() for r in rows) + "\n"


def call_outline(text: str, file: str, target: str | None, build_args: dict[str, str]) -> str:
    """The build args, secrets and SSH a target's stages use, with defaults and comments."""
    doc = parse(text, file)
    instrs = ins.instructions(doc)
    stages = split_stages(instrs, build_args, platform_args("linux/amd64", "linux/amd64"), target)
    args: dict[str, tuple[str, str]] = {}
    secrets: dict[str, bool] = {}
    ssh: dict[str, bool] = {}
    for inst in instrs:  # global ARGs (before the first FROM) are build args too
        if isinstance(inst, ins.From):
            break
        if isinstance(inst, ins.Arg):
            for name, _ in inst.pairs:
                args[name] = (stages.global_args.get(name) or "", _description(doc, inst.loc.start_line))
    for index in stages.needed:
        for inst in stages.stages[index].instructions:
            if isinstance(inst, ins.Arg):
                for name, default in inst.pairs:
                    value = build_args.get(name, default if default is not None else stages.global_args.get(name) or "")
                    args.setdefault(name, (value or "", _description(doc, inst.loc.start_line)))
            elif isinstance(inst, ins.Run):
                for m in inst.mounts:
                    if m.type == "secret":
                        secrets[m.id or (m.target or "").rsplit("/", 1)[-1]] = m.required
                    elif m.type == "ssh":
                        ssh[m.id or "default"] = m.required
    chosen = stages.stages[stages.target]
    out = [f"TARGET:      {chosen.name or 'stage-' + str(chosen.index)}", ""]
    if args:
        out += [*_table(["BUILD ARG", "VALUE", "DESCRIPTION"], [[k, v, d] for k, (v, d) in args.items()]), ""]
    if secrets:
        out += [*_table(["SECRET", "REQUIRED"], [[k, str(v).lower()] for k, v in secrets.items()]), ""]
    if ssh:
        out += [*_table(["SSH", "REQUIRED"], [[k, str(v).lower()] for k, v in ssh.items()]), ""]
    return "\n".join(out).rstrip("\n") + "\n"


def _description(doc: Document, line: int) -> str:
    """The comment right above a line (BuildKit reads ARG and stage descriptions from there)."""
    return (doc.comments or {}).get(line, "")


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    widths = [max(len(r[i]) for r in [header, *rows]) + 3 for i in range(len(header) - 1)]
    return [("".join(c.ljust(w) for c, w in zip(r[:-1], widths, strict=True)) + r[-1]).rstrip() for r in [header, *rows]]


@record
class LintAnswer:
    """What ``--call=check`` finds: the warnings, and the error that stops the check (or None)."""

    warnings: tuple[Warning, ...]
    error: str | None


def lint_answer(text: str, base_env: Callable[[str], Mapping[str, str] | None] | None = None) -> LintAnswer:
    try:
        doc = parse(text, "Dockerfile")
        return LintAnswer(check(doc, ins.instructions(doc)).warnings, None)
    except DockerfileError as err:
        return LintAnswer((), err.detail)


def targets_answer(text: str) -> tuple[str | None, str | None]:
    try:
        return call_targets(text, "Dockerfile", None), None
    except DockerfileError as err:
        return None, err.detail
