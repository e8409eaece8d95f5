"""How errors reach the user: the only place bake formats one for the terminal."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bake.errors import BakeError


def render_error(err: BakeError) -> str:
    """What buildx prints: the source around the error (``>>>`` marks its lines), then
    ``ERROR: file:line,col-col: Summary; Detail``."""
    from bake.errors import BuildFailed, DefinitionError, DockerfileError, StepError

    lines = []
    if isinstance(err, DefinitionError) and err.rng is not None and err.snippet:
        rng = err.rng
        lines.append(f"{rng.file}:{rng.line}")
        lines.append("-" * 20)
        for i, text in enumerate(err.snippet):
            n = err.snippet_start + i
            mark = ">>>" if rng.line <= n <= max(rng.end_line, rng.line) else "   "
            lines.append(f" {n:3d} | {mark} {text}")
        lines.append("-" * 20)
    if isinstance(err, DockerfileError) and err.text:
        lines += [f"{err.file}:{err.line}", "-" * 20, f" {err.line:3d} | >>> {err.text}", "-" * 20]
    if isinstance(err, BuildFailed):
        return "".join(render_error(e) for _, e in err.failures) + f"ERROR: {err.message}\n"
    if isinstance(err, StepError):
        lines += ["------", f" > {err.step}:", *err.output, "------", *_source_excerpt(err.source, err.text)]
        if err.targets:
            return "\n".join(lines) + f"\nERROR: target {', '.join(err.targets)}: {err.message}\n"
    lines.append(f"ERROR: {err.message}")
    return "\n".join(lines) + "\n"


def render_usage_error(message: str, command_path: str) -> str:
    """A command line the parser refused (exit code 2): the reason, then where help is, as buildx says it."""
    return f"ERROR: {message}\nSee '{command_path} --help'.\n"


def _source_excerpt(source: str, inline: str = "") -> list[str]:
    """``Dockerfile:12-14`` → the file's lines around them (or ``inline``'s, the text of a
    dockerfile-inline), the failing ones marked, as buildx shows."""
    path, _, span = source.rpartition(":")
    first, _, last = span.partition("-")
    if not path or not first.isdigit():
        return []
    if inline:
        text = inline.splitlines()
    else:
        try:
            with open(path, encoding="utf-8", errors="replace") as f:
                text = f.read().splitlines()
        except OSError:
            return [source]
    start, end = int(first), int(last) if last.isdigit() else int(first)
    out = [source, "-" * 20]
    for n in range(max(1, start - 2), min(len(text), end + 2) + 1):
        out.append(f" {n:3d} | {'>>>' if start <= n <= end else '   '} {text[n - 1]}")
    return [*out, "-" * 20]
