"""HCL native syntax → ``ast.Body``, through python-hcl2's typed rule tree (``grammar.parse_tree``,
converted by ``tree.Converter``), with HCL's wording for syntax errors. Parsed bodies are cached by
content digest (``parsecache.py``): a hit never imports python-hcl2 at all.
"""

from __future__ import annotations

from bake.errors import DefinitionError, SourceRange
from bake.hcl.engine import ast, grammar, parsecache
from bake.hcl.engine.tree import Converter


def parse(text: str, file: str) -> ast.Body:
    """Parse HCL native syntax; errors carry ``file:line:col``. A leading UTF-8 byte order mark is
    skipped, as HCL's scanner skips it."""
    text = text.removeprefix("\ufeff")
    cache = parsecache.cache_path(text, file)
    if cache is not None:
        cached = parsecache.load(cache)
        if cached is not None:
            return cached
    body = _parse_uncached(text, file)
    if cache is not None:
        parsecache.store(cache, body)
    return body


def _parse_uncached(text: str, file: str) -> ast.Body:
    from lark.exceptions import (
        UnexpectedCharacters,
        UnexpectedEOF,
        UnexpectedInput,
        UnexpectedToken,
        VisitError,
    )

    deep = grammar.too_deep(text)
    if deep is not None:
        raise too_deep_error(file, *deep)
    try:
        tree = grammar.parse_tree(text, parsecache.cache_dir())
        return Converter(file, 0, 0, text.split("\n")).body(tree.body)
    except RecursionError:
        raise _chain_error(text, file) from None
    except VisitError as e:  # python-hcl2's transformer rejects e.g. an unterminated %{ if }
        if isinstance(e.orig_exc, RecursionError):
            raise _chain_error(text, file) from None
        meta = getattr(e.obj, "meta", None)
        line, col = (meta.line, meta.column) if meta is not None and not getattr(meta, "empty", True) else (1, 1)
        raise DefinitionError("Invalid template", str(e.orig_exc), SourceRange(file, line, col, line, col + 1)) from None
    except UnexpectedInput as e:
        line = getattr(e, "line", 0) or 1
        col = getattr(e, "column", 0) or 1
        if line > len(text.split("\n")):  # lark reports the end of input past the last line
            line, col = len(text.split("\n")), 1
        if isinstance(e, UnexpectedToken):
            summary, detail = _syntax_error(e.token.type, str(e.token), set(e.expected or ()))
        elif isinstance(e, UnexpectedCharacters):
            char = text.split("\n")[line - 1][col - 1 : col] if text else ""
            summary, detail = "Invalid character", f"This character is not used within the language: {char!r}."
        elif isinstance(e, UnexpectedEOF):
            summary, detail = "Unexpected end of file", "The file ends in the middle of a definition."
        else:
            summary, detail = "Invalid syntax", str(e).splitlines()[0]
        raise DefinitionError(summary, detail, SourceRange(file, line, col, line, col + 1)) from None


def _chain_error(text: str, file: str) -> DefinitionError:
    """Not brackets (those were counted) but a chain: ``a + b + c + …`` or ``a.b.c.…`` thousands long,
    most likely on the file's longest line."""
    lines = text.split("\n")
    longest = max(range(len(lines)), key=lambda i: len(lines[i]))
    return DefinitionError("Expression too complex", "An expression chains too many operators, attributes or "
                           "indexes to be evaluated; split it into several variables.",
                           SourceRange(file, longest + 1, 1, longest + 1, len(lines[longest]) + 1))


def too_deep_error(file: str, line: int, col: int) -> DefinitionError:
    return DefinitionError(
        "Too deeply nested", f"Brackets, braces, parentheses and interpolations may nest at most "
        f"{grammar.MAX_NESTING} levels deep.", SourceRange(file, line, col, line, col + 1))


def _found(kind: str, value: str) -> str:
    if kind == "$END" or not value.strip():
        return "the end of the file" if kind == "$END" or not value else "a newline"
    first = value.strip().splitlines()[0]
    return f"{first!r}"


def _syntax_error(kind: str, value: str, expected: set[str]) -> tuple[str, str]:
    """HCL-style wording for a parse error, from what lark expected at that point."""
    found = _found(kind, value)
    if {"STRING_CHARS", "INTERP_START"} <= expected and "DBLQUOTE" in expected:
        return "Unterminated template string", "No closing marker was found for the string."
    if expected >= {"NAME", "INT_LITERAL", "LSQB"}:
        return "Missing expression", f"Expected the start of an expression, but found {found}."
    if expected & {"COMMA"} and expected & {"RSQB", "RBRACE"}:
        return "Missing item separator", f"Expected a comma to mark the beginning of the next item, but found {found}."
    if "EQ" in expected and "LBRACE" in expected:
        return "Argument or block definition required", f"An argument or block definition is required here, but found {found}."
    if "RBRACE" in expected:
        return "Missing closing brace", f"Expected a closing brace, but found {found}."
    return "Invalid syntax", f"Unexpected {found}."
