"""Shell-word expansion exactly as BuildKit's frontend does it."""

from __future__ import annotations

import pytest

from bake.dockerfile.shell import ExpansionError, expand_word, expand_words

ENV = {"V": "1.2.3", "P": "/usr/local/bin", "E": "", "S": "a b  c", "N10": "ten"}


@pytest.mark.parametrize(("word", "want"), [
    ("$V", "1.2.3"), ("${V}", "1.2.3"), ("pre${V}post", "pre1.2.3post"),
    ("${X:-def}", "def"), ("${E:-def}", "def"), ("${E-def}", ""), ("${X-def}", "def"),
    ("${V:+alt}", "alt"), ("${E:+alt}", ""), ("${E+alt}", "alt"), ("${X+alt}", ""),
    ("${P#*/}", "usr/local/bin"), ("${P##*/}", "bin"), ("${P%/*}", "/usr/local"), ("${P%%/*}", ""),
    ("${V/./-}", "1-2.3"), ("${V//./-}", "1-2-3"), ("${X:-${V}}", "1.2.3"),
    ("'$V'", "$V"), ('"$V x"', "1.2.3 x"), ("a\\$V", "a$V"), ('"a\\"b"', 'a"b'), ("$", "$"), ("$-x", "x"),
    ("${N10}", "ten"), ("$1", ""), ("a${V}b'${V}'", "a1.2.3b${V}"),
])
def test_expand_word(word: str, want: str) -> None:
    assert expand_word(word, ENV) == want


def test_words_split_after_substitution_but_not_inside_quotes() -> None:
    assert expand_words('x $S "$S" \'y z\'', ENV) == ["x", "a", "b", "c", "a b  c", "y z"]


def test_backtick_escape() -> None:
    assert expand_word("`$V", ENV, escape="`") == "$V"
    assert expand_word("c:\\dir\\$V", ENV, escape="`") == "c:\\dir\\1.2.3"


@pytest.mark.parametrize(("word", "message"), [
    ("${X:?must be set}", "X: must be set"), ("${X?}", "X: is not allowed to be unset"),
    ("${E:?}", "E: is not allowed to be empty"), ("${V", "missing '}'"), ("'open", "single-quote"),
    ('"open', "double-quote"), ("${V^^}", "unsupported modifier"),
])
def test_expansion_errors(word: str, message: str) -> None:
    with pytest.raises(ExpansionError, match=message):
        expand_word(word, ENV)
