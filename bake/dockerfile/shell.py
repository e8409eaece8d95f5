"""Shell-word expansion as BuildKit's Dockerfile frontend does it (its ``shell.Lex``).

``expand_word`` returns one string; ``expand_words`` splits on unquoted whitespace *after*
substitution, as BuildKit does for EXPOSE, VOLUME, USER and friends. Supported:
``$V ${V} ${V:-d} ${V-d} ${V:+a} ${V+a} ${V:?err} ${V?err} ${V#p} ${V##p} ${V%p} ${V%%p}
${V/p/r} ${V//p/r}``, single and double quotes, and the escape character (``\\`` or backtick).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping

from bake.errors import BakeError

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*|[0-9]+|[*#?@$!-]")


class ExpansionError(BakeError):
    """``${V:?message}`` with ``V`` unset, or a malformed ``${…}``."""


def expand_word(word: str, env: Mapping[str, str], escape: str = "\\") -> str:
    return "".join(_Lexer(word, env, escape).run(split=False)[0])


def expand_words(word: str, env: Mapping[str, str], escape: str = "\\") -> list[str]:
    return _Lexer(word, env, escape).run(split=True)


def expand_heredoc(text: str, env: Mapping[str, str]) -> str:
    """The body of an unquoted ``COPY <<EOF`` heredoc: variables expand, quotes stay as written."""
    return "".join(_Lexer(text, env, "\\", keep_quotes=True).run(split=False)[0])


def expand_name(text: str, env: Mapping[str, str], escape: str = "\\") -> str:
    """A step's name as BuildKit expands it: quotes kept as written (nothing expands between single
    quotes), an unset ``$V`` or ``${V}`` left as written; text that does not expand stays as it is."""
    try:
        return "".join(_Lexer(text, env, escape, raw=True).run(split=False)[0])
    except ExpansionError:
        return text


class _Lexer:
    def __init__(self, word: str, env: Mapping[str, str], escape: str, keep_quotes: bool = False,
                 raw: bool = False) -> None:
        self.keep_quotes = keep_quotes
        self.raw = raw  # quotes kept, unset variables left as written (BuildKit's RawQuotes + SkipUnsetEnv)
        self.s = word
        self.i = 0
        self.env = env
        self.escape = escape

    def peek(self, k: int = 0) -> str:
        j = self.i + k
        return self.s[j] if j < len(self.s) else ""

    def run(self, split: bool) -> list[str]:
        words: list[str] = []
        cur: list[str] = []
        in_word = False
        while self.i < len(self.s):
            c = self.s[self.i]
            if split and c in " \t\n":
                if in_word:
                    words.append("".join(cur))
                    cur, in_word = [], False
                self.i += 1
                continue
            in_word = True
            if c in "'\"" and self.keep_quotes:
                cur.append(c)
                self.i += 1
            elif c == "'":
                cur.append(self.single_quoted())
            elif c == '"':
                cur.append(self.double_quoted())
            elif c == self.escape:
                self.i += 1
                if self.i < len(self.s):
                    cur.append(self.s[self.i])
                    self.i += 1
            elif c == "$":
                value = self.dollar()
                if split:  # substituted values split on whitespace too
                    parts = re.split(r"[ \t\n]+", value)
                    cur.append(parts[0])
                    for p in parts[1:]:
                        words.append("".join(cur))
                        cur = [p]
                else:
                    cur.append(value)
            else:
                cur.append(c)
                self.i += 1
        if in_word or not split:
            words.append("".join(cur))
        return [w for w in words if w or not split] if split else words

    def single_quoted(self) -> str:
        end = self.s.find("'", self.i + 1)
        if end < 0:
            raise ExpansionError(f"unexpected end of statement while looking for matching single-quote in {self.s!r}")
        out = self.s[self.i + 1 : end]
        self.i = end + 1
        return f"'{out}'" if self.raw else out

    def double_quoted(self) -> str:
        self.i += 1
        out: list[str] = []
        while True:
            if self.i >= len(self.s):
                raise ExpansionError(f"unexpected end of statement while looking for matching double-quote in {self.s!r}")
            c = self.s[self.i]
            if c == '"':
                self.i += 1
                return f'"{"".join(out)}"' if self.raw else "".join(out)
            if c == "$":
                out.append(self.dollar())
            elif c == self.escape and self.peek(1) in ('"', "$", self.escape):
                out.append(self.peek(1))
                self.i += 2
            else:
                out.append(c)
                self.i += 1

    def dollar(self) -> str:
        self.i += 1  # the $
        c = self.peek()
        if c == "{":
            return self.braced()
        m = _NAME.match(self.s, self.i)
        if not m:
            return "$"
        self.i = m.end()
        if self.raw and m.group(0) not in self.env:
            return "$" + m.group(0)
        return self.env.get(m.group(0), "")

    def braced(self) -> str:
        self.i += 1  # the {
        m = _NAME.match(self.s, self.i)
        if not m:
            raise ExpansionError(f"bad substitution: missing variable name in {self.s!r}")
        name = m.group(0)
        self.i = m.end()
        if self.peek() == "}":
            self.i += 1
            if self.raw and name not in self.env:
                return "${" + name + "}"
            return self.env.get(name, "")
        op = self.peek()
        if op == ":" and self.peek(1) in "-+?":
            op, self.i = ":" + self.peek(1), self.i + 2
        elif op in "-+?":
            self.i += 1
        elif op in "#%":
            if self.peek(1) == op:
                op, self.i = op * 2, self.i + 2
            else:
                self.i += 1
        elif op == "/":
            if self.peek(1) == "/":
                op, self.i = "//", self.i + 2
            else:
                self.i += 1
        else:
            raise ExpansionError(f"unsupported modifier ({op}) in substitution {self.s!r}")
        arg = self.until_brace()
        value = self.env.get(name)
        if op in (":-", "-"):
            use_default = value is None or (op == ":-" and value == "")
            return arg if use_default else value  # type: ignore[return-value]
        if op in (":+", "+"):
            set_ = value is not None and (op == "+" or value != "")
            return arg if set_ else ""
        if op in (":?", "?"):
            if value is None:
                raise ExpansionError(f"{name}: {arg or 'is not allowed to be unset'}")
            if op == ":?" and value == "":
                raise ExpansionError(f"{name}: {arg or 'is not allowed to be empty'}")
            return value
        v = value or ""
        if op in ("#", "##"):
            return _trim_prefix(v, arg, longest=op == "##")
        if op in ("%", "%%"):
            return _trim_suffix(v, arg, longest=op == "%%")
        pattern, _, repl = arg.partition("/")
        return _replace(v, pattern, repl, every=op == "//")

    def until_brace(self) -> str:
        """The word after a modifier, itself expanded, up to the matching ``}``."""
        out: list[str] = []
        while True:
            c = self.peek()
            if c == "":
                raise ExpansionError(f"missing '}}' in substitution {self.s!r}")
            if c == "}":
                self.i += 1
                return "".join(out)
            if c == "$":
                out.append(self.dollar())
            elif c == "'":
                out.append(self.single_quoted())
            elif c == '"':
                out.append(self.double_quoted())
            elif c == self.escape and self.peek(1):
                out.append(self.peek(1))
                self.i += 2
            else:
                out.append(c)
                self.i += 1


@functools.lru_cache(maxsize=128)
def _pattern(pattern: str) -> re.Pattern[str]:
    """BuildKit's pattern dialect: ``*`` any string (``/`` included), ``?`` one character, ``\\``
    escapes ``* ? \\``; brackets are literal (no character classes)."""
    out: list[str] = []
    i = 0
    while i < len(pattern):
        c = pattern[i]
        if c == "*":
            out.append(".*")
        elif c == "?":
            out.append(".")
        elif c == "\\" and i + 1 < len(pattern):
            i += 1
            out.append(re.escape(pattern[i]))
        else:
            out.append(re.escape(c))
        i += 1
    return re.compile("".join(out), re.S)


def _match(text: str, pattern: str) -> bool:
    return _pattern(pattern).fullmatch(text) is not None


def _trim_prefix(v: str, pattern: str, longest: bool) -> str:
    ends = range(len(v), -1, -1) if longest else range(len(v) + 1)
    for k in ends:
        if _match(v[:k], pattern):
            return v[k:]
    return v


def _trim_suffix(v: str, pattern: str, longest: bool) -> str:
    starts = range(len(v) + 1) if longest else range(len(v), -1, -1)
    for k in starts:
        if _match(v[k:], pattern):
            return v[:k]
    return v


def _replace(v: str, pattern: str, repl: str, every: bool) -> str:
    if not pattern:
        return v
    out: list[str] = []
    i = 0
    while i <= len(v):
        # the longest match starting at i, as shells do
        for k in range(len(v), i, -1):
            if _match(v[i:k], pattern):
                out.append(repl)
                i = k
                break
        else:
            if i < len(v):
                out.append(v[i])
            i += 1
            continue
        if not every:
            out.append(v[i:])
            return "".join(out)
    return "".join(out)
