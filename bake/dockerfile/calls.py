"""``--call=check|targets|outline``: what BuildKit's frontend answers instead of building."""

from __future__ import annotations

from bake._record import record
from bake.dockerfile import instructions as ins
from bake.dockerfile.comments import doc_comment, prev_comments
from bake.dockerfile.lint import ImageLookup, Warning, check
from bake.dockerfile.parser import Document, parse
from bake.dockerfile.stages import STAGE_NAME, platform_args, split_stages
from bake.errors import DockerfileError


def call_check(text: str, file: str, images: ImageLookup | None = None) -> tuple[str, int, bool]:
    """(report, warning count, failed) as buildx prints it; failed: warnings or an error (exit 1)."""
    answer = lint_answer(text, images, file)
    lines = text.split("\n")
    out: list[str] = []
    for w in answer.warnings:
        out.append(f"WARNING: {w.rule} - {w.url}")
        out.append(w.message)
        out.extend(_snippet(file, lines, w.line))
    count = len(answer.warnings)
    if answer.error is not None:
        out.append(f"ERROR: {answer.error}")
        out.extend(_snippet(file, lines, answer.error_line or 1))
    if count:
        head = f"Check complete, {count} warning{'s' if count != 1 else ''} {'have' if count != 1 else 'has'} been found!"
    elif answer.error is None:
        head = "Check complete, no warnings found."
    else:
        head = ""
    body = "\n".join([head, "", *out] if head else out).rstrip("\n") + "\n"
    return body, count, bool(count) or answer.error is not None


def _snippet(file: str, lines: list[str], line: int) -> list[str]:
    out = [f"{file}:{line}", "-" * 20]
    for n in range(max(line - 2, 1), min(line + 2, len(lines)) + 1):
        mark = ">>>" if n == line else "   "
        out.append(f" {n:3d} | {mark} {lines[n - 1]}")
    return [*out, "-" * 20, ""]


def call_targets(text: str, file: str, target: str | None = None) -> str:
    """The Dockerfile's stages as BuildKit lists them: every stage, named or not, with its doc comment;
    the last one is the default (``target`` does not change that, as in BuildKit)."""
    doc = _parse(text, file)
    instrs = ins.instructions(doc)
    comments = prev_comments(text, doc)
    heads = _stage_heads(instrs, file)
    rows = [("TARGET", "DESCRIPTION")]
    for i, head in enumerate(heads):
        name = head.name or ""
        if i == len(heads) - 1:
            name = f"{name} (default)" if name else "(default)"
        rows.append((name, doc_comment(comments.get(head.loc.start_line, []), head.name or "")))
    width = max(len(r[0]) for r in rows) + 1  # Go's tabwriter, padding 1
    return "".join(f"{r[0].ljust(width)}{r[1]}\n" for r in rows)


def _stage_heads(instrs: list[ins.Instruction], file: str) -> list[ins.From]:
    heads: list[ins.From] = []
    for inst in instrs:
        if isinstance(inst, ins.From):
            if inst.name is not None and not STAGE_NAME.match(inst.name):
                raise DockerfileError(f"invalid name for build stage: {inst.name!r}, name can't start with a number "
                                      "or contain symbols", file, inst.loc.start_line)
            heads.append(inst)
        elif not heads and not isinstance(inst, ins.Arg):
            raise DockerfileError("no build stage in current context", file, inst.loc.start_line)
    return heads


def _parse(text: str, file: str) -> Document:
    doc = parse(text, file)
    if not doc.nodes:
        raise DockerfileError("file with no instructions", file, max(len(text.split("\n")) - 1, 1))
    return doc


def call_outline(text: str, file: str, target: str | None, build_args: dict[str, str]) -> str:
    """The build args, secrets and SSH a target's stages use, with defaults and comments."""
    doc = parse(text, file)
    comments = prev_comments(text, doc)
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
                args[name] = (stages.global_args.get(name) or "", _description(comments, inst.loc.start_line, name))
    for index in stages.needed:
        for inst in stages.stages[index].instructions:
            if isinstance(inst, ins.Arg):
                for name, default in inst.pairs:
                    value = build_args.get(name, default if default is not None else stages.global_args.get(name) or "")
                    args.setdefault(name, (value or "", _description(comments, inst.loc.start_line, name)))
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


def _description(comments: dict[int, list[str]], line: int, name: str) -> str:
    """The doc comment of ``name`` (an ARG or a stage) on the instruction at ``line``."""
    return doc_comment(comments.get(line, []), name)


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    widths = [max(len(r[i]) for r in [header, *rows]) + 3 for i in range(len(header) - 1)]
    return [("".join(c.ljust(w) for c, w in zip(r[:-1], widths, strict=True)) + r[-1]).rstrip() for r in [header, *rows]]


@record
class LintAnswer:
    """What ``--call=check`` finds: the warnings, and the error that stops the check (or None)."""

    warnings: tuple[Warning, ...]
    error: str | None
    error_line: int | None = None


def lint_answer(text: str, images: ImageLookup | None = None, file: str = "Dockerfile") -> LintAnswer:
    """The check of ``text`` as BuildKit's lint request answers it: warnings found before any error."""
    if not text:
        return LintAnswer((), "the Dockerfile cannot be empty", None)
    try:
        doc = _parse(text, file)
        instrs = ins.instructions(doc)
        _stage_heads(instrs, file)
    except DockerfileError as err:
        return LintAnswer((), err.detail, err.line)
    report = check(doc, instrs, images, comments=prev_comments(text, doc))
    failure = report.failure
    return LintAnswer(report.warnings, failure.detail if failure else None, failure.line if failure else None)


def targets_answer(text: str) -> tuple[str | None, str | None]:
    """(listing, None) or (None, error) for ``--call=targets``."""
    try:
        return call_targets(text, "Dockerfile"), None
    except DockerfileError as err:
        return None, err.detail
