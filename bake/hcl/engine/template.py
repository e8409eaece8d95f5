"""Template assembly shared by quoted strings and heredocs.

A template arrives as a flat list of pieces (literal text, ``${…}``, ``%{ if }``, ``%{ else }``,
``%{ endif }``, ``%{ for }``, ``%{ endfor }``); ``assemble`` nests the directives and applies the
``~`` strip markers statically, as HCL does. ``scan`` splits a heredoc body (which python-hcl2
keeps as one opaque token) into the same pieces.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Callable

from bake.errors import DefinitionError, SourceRange
from bake.hcl.engine import ast


class Piece:
    """One flat template element; ``text`` of literals is trimmed in place by strip markers."""

    __slots__ = ("expr", "key_var", "kind", "rng", "strip_left", "strip_right", "text", "value_var")

    def __init__(
        self, kind: str, rng: SourceRange, text: str = "", expr: ast.Expr | None = None, key_var: str | None = None,
        value_var: str = "", strip_left: bool = False, strip_right: bool = False,
    ) -> None:
        self.kind = kind  # lit | interp | if | else | endif | for | endfor
        self.rng = rng
        self.text = text
        self.expr = expr
        self.key_var = key_var
        self.value_var = value_var
        self.strip_left = strip_left
        self.strip_right = strip_right


def assemble(pieces: list[Piece], rng: SourceRange) -> ast.Template:
    _apply_strip_markers(pieces)
    parts, end, closer = _nest(pieces, 0, ())
    if closer is not None:
        raise DefinitionError("Unexpected directive", f"%{{ {closer.kind} }} without an opening directive", closer.rng)
    assert end == len(pieces)
    return ast.Template(tuple(_merge_literals(parts)), rng)


def _apply_strip_markers(pieces: list[Piece]) -> None:
    for i, p in enumerate(pieces):
        if p.kind == "lit":
            continue
        if p.strip_left and i > 0 and pieces[i - 1].kind == "lit":
            pieces[i - 1].text = pieces[i - 1].text.rstrip()
        if p.strip_right and i + 1 < len(pieces) and pieces[i + 1].kind == "lit":
            pieces[i + 1].text = pieces[i + 1].text.lstrip()


def _nest(
    pieces: list[Piece], i: int, closers: tuple[str, ...]
) -> tuple[list[ast.TemplatePart], int, Piece | None]:
    out: list[ast.TemplatePart] = []
    while i < len(pieces):
        p = pieces[i]
        if p.kind in ("else", "endif", "endfor"):
            if p.kind not in closers:
                raise DefinitionError(
                    "Unexpected directive", f"%{{ {p.kind} }} without a matching opening directive", p.rng
                )
            return out, i, p
        if p.kind == "lit":
            out.append(p.text)
        elif p.kind == "interp":
            assert p.expr is not None
            out.append(ast.Interp(p.expr, p.rng))
        elif p.kind == "if":
            then, i, closer = _nest(pieces, i + 1, ("else", "endif"))
            otherwise: list[ast.TemplatePart] = []
            if closer is not None and closer.kind == "else":
                otherwise, i, closer = _nest(pieces, i + 1, ("endif",))
            if closer is None:
                raise DefinitionError("Unterminated template directive", "missing %{ endif }", p.rng)
            assert p.expr is not None
            out.append(ast.TemplateIf(p.expr, tuple(_merge_literals(then)), tuple(_merge_literals(otherwise)), p.rng))
        elif p.kind == "for":
            body, i, closer = _nest(pieces, i + 1, ("endfor",))
            if closer is None:
                raise DefinitionError("Unterminated template directive", "missing %{ endfor }", p.rng)
            assert p.expr is not None
            out.append(ast.TemplateFor(p.key_var, p.value_var, p.expr, tuple(_merge_literals(body)), p.rng))
        i += 1
    return out, i, None


def _merge_literals(parts: list[ast.TemplatePart]) -> list[ast.TemplatePart]:
    out: list[ast.TemplatePart] = []
    for part in parts:
        if isinstance(part, str):
            if not part:
                continue
            if out and isinstance(out[-1], str):
                out[-1] += part
                continue
        out.append(part)
    return out


# --- heredoc scanning -------------------------------------------------------------------------

_NEWLINE = re.compile("\n")
_TEMPLATE_START = re.compile("[$%]")

ParseExpr = Callable[[str, int, int], ast.Expr]
"""Parses expression source text that starts at (line, col) of the enclosing file."""


def scan(text: str, file: str, line: int, col: int, parse_expr: ParseExpr) -> list[Piece]:
    """Split heredoc ``text`` starting at ``line``:``col`` into template pieces.

    Heredocs do not process backslash escapes; ``$${`` and ``%%{`` still escape.
    """
    pieces: list[Piece] = []
    buf: list[str] = []
    i = 0
    ln, cl = line, col
    newlines = [m.start() for m in _NEWLINE.finditer(text)]

    def pos_at(j: int) -> tuple[int, int]:
        nl = bisect.bisect_left(newlines, j)  # newlines before j
        return (line + nl, (j - newlines[nl - 1]) if nl else col + j)

    def flush(j: int) -> None:
        if buf:
            s = "".join(buf)
            a, b = pos_at(j - len(s))
            c, d = pos_at(j)
            pieces.append(Piece("lit", SourceRange(file, a, b, c, d), text=s))
            buf.clear()

    while i < len(text):
        m = _TEMPLATE_START.search(text, i)
        j = len(text) if m is None else m.start()
        if j > i:  # a run of plain text
            buf.append(text[i:j])
            i = j
            continue
        if text.startswith("$${", i) or text.startswith("%%{", i):
            buf.append(text[i + 1 : i + 3])
            i += 3
            continue
        if text.startswith("${", i) or text.startswith("%{", i):
            flush(i)
            end = _matching_brace(text, i + 2)
            if end < 0:
                ln, cl = pos_at(i)
                raise DefinitionError(
                    "Unterminated template string", "no closing brace for the interpolation",
                    SourceRange(file, ln, cl, ln, cl + 2),
                )
            inner = text[i + 2 : end]
            start_off = i + 2
            strip_left = inner.startswith("~")
            if strip_left:
                inner, start_off = inner[1:], start_off + 1
            strip_right = inner.endswith("~")
            if strip_right:
                inner = inner[:-1]
            a, b = pos_at(i)
            c, d = pos_at(end + 1)
            rng = SourceRange(file, a, b, c, d)
            el, ec = pos_at(start_off)
            if text[i] == "$":
                expr = parse_expr(inner, el, ec)
                pieces.append(Piece("interp", rng, expr=expr, strip_left=strip_left, strip_right=strip_right))
            else:
                pieces.append(_directive(inner, rng, el, ec, parse_expr, strip_left, strip_right))
            i = end + 1
            continue
        buf.append(text[i])
        i += 1
    flush(len(text))
    return pieces


def _directive(
    inner: str, rng: SourceRange, line: int, col: int, parse_expr: ParseExpr, sl: bool, sr: bool
) -> Piece:
    stripped = inner.strip()
    lead = len(inner) - len(inner.lstrip())
    word, _, rest = stripped.partition(" ")
    if word in ("else", "endif", "endfor") and not rest.strip():
        return Piece(word, rng, strip_left=sl, strip_right=sr)
    if word == "if":
        expr = parse_expr(rest, line, col + lead + 3)
        return Piece("if", rng, expr=expr, strip_left=sl, strip_right=sr)
    if word == "for":
        names, sep, coll = rest.partition(" in ")
        idents = [n.strip() for n in names.split(",")]
        if sep and 1 <= len(idents) <= 2 and all(n.isidentifier() for n in idents):
            expr = parse_expr(coll, line, col + lead + 4 + len(names) + 4)
            key = idents[0] if len(idents) == 2 else None
            return Piece("for", rng, expr=expr, key_var=key, value_var=idents[-1], strip_left=sl, strip_right=sr)
    raise DefinitionError("Invalid template directive", f"unknown directive %{{{inner}}}", rng)


def _matching_brace(text: str, i: int) -> int:
    """Index of the ``}`` closing an expression that starts at ``i``, or -1."""
    depth = 0
    while i < len(text):
        c = text[i]
        if c == '"':
            i = _skip_string(text, i + 1)
            if i < 0:
                return -1
            continue
        if c == "{":
            depth += 1
        elif c == "}":
            if depth == 0:
                return i
            depth -= 1
        i += 1
    return -1


def _skip_string(text: str, i: int) -> int:
    while i < len(text):
        c = text[i]
        if c == "\\":
            i += 2
            continue
        if c == '"':
            return i + 1
        if text.startswith("${", i) or text.startswith("%{", i):
            end = _matching_brace(text, i + 2)
            if end < 0:
                return -1
            i = end + 1
            continue
        i += 1
    return -1
