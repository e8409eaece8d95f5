"""python-hcl2's lark grammar, with the two terminals that cost memory per character rewritten.

python-hcl2 matches a quoted string's characters with ``(?:A|B|C|D)+`` and a heredoc body with
``(?:.|\\n)*?``: a repeated group with alternatives, for which Python's ``re`` keeps backtracking
state for every character — about 200 bytes each, so a 10 MB string took 2 GB and 12 s. The
rewrites below match exactly the same text, but repeat per run of plain characters (strings) or
per line (heredocs), so the state is small and matching is linear.

Nesting is bounded too: lark's tree transformer recurses once per level, so ``MAX_NESTING``
brackets deep is refused with a located error before the parser ever sees the text.
"""

from __future__ import annotations

import functools
import hashlib
import os
import re
from typing import Any

# (python-hcl2's terminal, an equivalent one)
_TERMINALS = (
    (r'STRING_CHARS.1: /(?:(?!\$\$\{)(?!\$\{)(?!%%\{)(?!%\{)[^"\\]|\\.|(?:\$(?!\$?\{))|(?:%(?!%?\{)))+/',
     r'STRING_CHARS.1: /(?:[^"\\$%]+|\\.|\$(?!\$?\{)|%(?!%?\{))+/'),
    (r"HEREDOC_TEMPLATE : /<<(?P<heredoc>[a-zA-Z][a-zA-Z0-9._-]*)\r?\n(?:(?:.|\n)*?\r?\n)??\s*(?P=heredoc)\r?\n/",
     r"HEREDOC_TEMPLATE : /<<(?P<heredoc>[a-zA-Z][a-zA-Z0-9._-]*)\r?\n(?:[^\n]*\n)*?\s*(?P=heredoc)\r?\n/"),
    (r"HEREDOC_TEMPLATE_TRIM : /<<-(?P<heredoc_trim>[a-zA-Z][a-zA-Z0-9._-]*)\r?\n(?:(?:.|\n)*?\r?\n)??\s*(?P=heredoc_trim)\r?\n/",
     r"HEREDOC_TEMPLATE_TRIM : /<<-(?P<heredoc_trim>[a-zA-Z][a-zA-Z0-9._-]*)\r?\n(?:[^\n]*\n)*?\s*(?P=heredoc_trim)\r?\n/"),
)

_HEREDOC = re.compile(r"<<-?([a-zA-Z][a-zA-Z0-9._-]*)\r?\n")

MAX_NESTING = 100
"""How deep brackets, parentheses, braces and ``${`` interpolations may nest in one bake file."""


@functools.lru_cache(maxsize=1)
def parser(cache_dir: str | None) -> Any:
    """The lark parser (LALR, positions, python-hcl2's post-lexer), its tables cached in ``cache_dir``."""
    import hcl2.parser
    import lark
    from hcl2.postlexer import PostLexer

    with open(os.path.join(os.path.dirname(hcl2.parser.__file__), "hcl2.lark"), encoding="utf-8") as f:
        grammar = f.read()
    for old, new in _TERMINALS:
        if old not in grammar:  # another python-hcl2 release: keep its grammar as it is
            continue
        grammar = grammar.replace(old, new)
    cache: str | bool = True  # lark's own file in the temporary directory
    if cache_dir is not None:
        key = hashlib.sha256(f"{lark.__version__}\0{grammar}".encode()).hexdigest()[:32]
        try:
            os.makedirs(cache_dir, mode=0o700, exist_ok=True)
            cache = os.path.join(cache_dir, f"lark-{key}.bin")
        except OSError:
            cache = True
    return lark.Lark(grammar, parser="lalr", propagate_positions=True, postlex=PostLexer(), cache=cache)


def parse_tree(text: str, cache_dir: str | None) -> Any:
    """python-hcl2's typed rule tree of ``text`` (what ``hcl2.parses`` returns)."""
    from hcl2.transformer import RuleTransformer

    # The trailing newline is python-hcl2's own workaround: its grammar needs one at the end.
    tree = parser(cache_dir).parse(text + "\n")
    return RuleTransformer(discard_new_line_or_comments=False).transform(tree)


_EXPR_STOP = re.compile(r'["()\[\]{}<#/]')
_STRING_STOP = re.compile(r'[\\"$%\n]')


def too_deep(text: str) -> tuple[int, int] | None:
    """(line, column) of the first bracket nested more than ``MAX_NESTING`` deep, else None.

    Counts ``( [ {`` and ``${``/``%{`` outside comments and heredoc bodies; quoted strings are
    followed closely enough for that (a bracket inside a string counts only when it opens a
    template). Jumps from one interesting character to the next, so a long string costs little."""
    depth = 0
    stack: list[str] = []  # "s": inside a quoted string; "e": inside an expression
    i, n = 0, len(text)
    while True:
        in_string = bool(stack) and stack[-1] == "s"
        m = (_STRING_STOP if in_string else _EXPR_STOP).search(text, i)
        if m is None:
            return None
        i = m.start()
        c = text[i]
        if in_string:
            if c == "\\":
                i += 1
            elif c in '"\n':  # a newline ends an unterminated string (the parser reports it)
                stack.pop()
            elif text.startswith("{", i + 1):
                stack.append("e")
                depth += 1
                i += 1
        elif c == '"':
            stack.append("s")
        elif c == "<":
            h = _HEREDOC.match(text, i)
            if h is not None:  # a heredoc body is text: its brackets and quotes do not count
                end = re.compile(r"^[ \t]*" + re.escape(h.group(1)) + r"\r?$", re.M).search(text, h.end())
                i = n if end is None else end.end()
                continue
        elif c == "#" or text.startswith("//", i):
            nl = text.find("\n", i)
            i = n if nl < 0 else nl
            continue
        elif c in "([{":
            depth += 1
            stack.append("e")
        elif c in ")]}":
            depth = max(depth - 1, 0)
            if stack:
                stack.pop()
        if depth > MAX_NESTING:
            line = text.count("\n", 0, i) + 1
            return line, i - (text.rfind("\n", 0, i) + 1) + 1
        i += 1
