"""Doc comments as BuildKit reads them: the comment lines since the previous instruction.

BuildKit keeps, for each instruction, every comment line after the previous instruction (blank lines
do not break the run; an empty ``#`` line clears it; parser directives and comments inside a
continued instruction are not part of it). A stage's or an ARG's description is the rest of the first
of those lines that starts with its name and a space: ``# build prepares the sources`` above
``FROM … AS build`` describes ``build`` as "prepares the sources"; a comment that does not start with
the name describes nothing.
"""

from __future__ import annotations

from bake.dockerfile.parser import Document


def prev_comments(text: str, doc: Document) -> dict[int, list[str]]:
    """Instruction start line → the comment lines BuildKit attaches to it."""
    if text.startswith("\ufeff"):
        text = text[1:]
    lines = text.split("\n")
    directive_lines = {line for _, line in doc.directives.values()}
    out: dict[int, list[str]] = {}
    pending: list[str] = []
    n = 0  # 0-based index of the next physical line to read
    for node in doc.nodes:
        while n < node.start_line - 1:
            line = lines[n].removesuffix("\r")
            n += 1
            if n in directive_lines or not line.lstrip(" \t\v\f").startswith("#"):
                continue
            comment = line[1:].strip()  # BuildKit drops the first byte, whatever it is, then trims
            if comment:
                pending.append(comment)
            else:
                pending = []
        out[node.start_line] = pending
        pending = []
        n = node.end_line
    return out


def doc_comment(comments: list[str], name: str) -> str:
    """The description of ``name`` in ``comments`` ("" when there is none)."""
    if not name:
        return ""
    for line in comments:
        if line.startswith(name + " "):
            return line[len(name) + 1:]
    return ""
