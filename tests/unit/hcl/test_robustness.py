"""Bad input never escapes as a Python exception: every mistake is a BakeError."""

from __future__ import annotations

import contextlib
import random
import re
from pathlib import Path

import pytest

from bake import app
from bake.errors import BakeError, DefinitionError
from bake.hcl.bakefile.loader import File, Project
from tests.conftest import PrintFn

ROOT = Path(__file__).resolve().parents[3]
SEEDS = [p.read_text() for p in sorted(ROOT.glob("examples/*/docker-bake.hcl"))] + [(ROOT / "docker-bake.hcl").read_text()]
TOKENS = ['"', "{", "}", "[", "]", "(", ")", "${", "%{", "=", ",", "\n", "...", "~", "<<EOT\n", ".*", "[*]", "null", "-"]


def mutants(count: int) -> list[str]:
    rnd = random.Random(20261128)
    out = []
    for _ in range(count):
        text = rnd.choice(SEEDS)
        for _ in range(rnd.randint(1, 3)):
            i = rnd.randrange(len(text))
            if rnd.random() < 0.5:
                text = text[:i] + text[i + rnd.randint(1, 8):]
            else:
                text = text[:i] + rnd.choice(TOKENS) + text[i:]
        out.append(text)
    return out


@pytest.mark.parametrize("text", mutants(300))
def test_mutated_files_fail_cleanly(text: str) -> None:
    with contextlib.suppress(BakeError):  # anything else fails the test
        Project([File("docker-bake.hcl", text)], env={}).plan([])


def error_of(files: dict[str, str | bytes], tmp_path: Path) -> DefinitionError:
    for name, content in files.items():
        data = content.encode() if isinstance(content, str) else content
        (tmp_path / name).write_bytes(data)
    with pytest.raises(DefinitionError) as info:
        app.plan(app.Request(tuple(files), cwd=str(tmp_path), env={}))
    return info.value


def test_a_file_that_is_not_utf8_is_an_error_at_the_byte(tmp_path: Path) -> None:
    err = error_of({"docker-bake.hcl": b'target "a" {\n  args = { X = "\xff" }\n}\n'}, tmp_path)
    assert err.summary == "Invalid character encoding"
    assert (err.rng.line, err.rng.col) == (2, 17)  # type: ignore[union-attr]
    assert err.snippet[1] == '  args = { X = "\ufffd" }'


@pytest.mark.parametrize(("expr", "value"), [
    ("1 % 1e-308", "0"),  # Decimal refuses (DivisionImpossible); cty answers x - y*trunc(x/y)
    ("7 % 3", "1"),
    ("-7.5 % 2", "-1.5"),
    ("1e155 + 1", "1" + "0" * 155),  # beyond the precision: rounded, as cty's 512-bit floats do
    ("floor(1e999998) == 1e999998", "true"),  # no million-digit int is ever built
    ("parseint(\"1\", 10) + 1", "2"),
])
def test_numeric_edges_have_values(bake_print: PrintFn, expr: str, value: str) -> None:
    out = bake_print(f'target "a" {{\n  args = {{ X = {expr} }}\n}}\n', ["a"])
    assert out["target"]["a"]["args"]["X"] == value


@pytest.mark.parametrize(("expr", "message"), [
    ("1e999999 * 10", "Operation failed; Error during operation: the result is too large to represent"),
    ("1 / 0", "can't divide by zero"),
    ("1 % 0", "can't divide by zero"),
    ("1e9999999", "Invalid number; Numbers range up to 999999 decimal digits"),
    ("pow(10, 1000000000000)", 'Call to function "pow" failed: the result is too large to represent'),
])
def test_numeric_overflows_are_located_errors(bake_print: PrintFn, expr: str, message: str) -> None:
    with pytest.raises(DefinitionError, match=re.escape(message)) as info:
        bake_print(f'target "a" {{\n  args = {{ X = {expr} }}\n}}\n', ["a"])
    assert info.value.rng is not None and info.value.rng.line == 2


@pytest.mark.parametrize(("name", "text", "line"), [
    ("docker-bake.hcl", 'target "a" {\n  args = { X = ' + "[" * 10000 + "]" * 10000 + " }\n}\n", 2),
    ("docker-bake.hcl", 'target "a" {\n  args = { X = ' + "(" * 10000 + "1" + ")" * 10000 + " }\n}\n", 2),
    ("docker-bake.hcl", 'target "a" {\n  args = { X = "' + '${"' * 10000 + "x" + '"}' * 10000 + '" }\n}\n', 2),
    ("docker-bake.json", '{"target": {"a": {"args": {"X": \n' + "[" * 10000 + "]" * 10000 + "}}}}", 2),
])
def test_deep_nesting_is_refused_where_it_gets_too_deep(tmp_path: Path, name: str, text: str, line: int) -> None:
    err = error_of({name: text}, tmp_path)
    assert err.summary == "Too deeply nested"
    assert "at most 100 levels" in err.detail
    assert err.rng is not None and err.rng.line == line


def test_nesting_inside_heredocs_and_comments_does_not_count(bake_print: PrintFn) -> None:
    out = bake_print('target "a" {\n  # ' + "(" * 200 + '\n  args = { X = <<EOT\n' + "[" * 200 + "\nEOT\n  }\n}\n", ["a"])
    assert out["target"]["a"]["args"]["X"] == "[" * 200 + "\n"


def test_long_operator_chains_are_refused_on_their_line(tmp_path: Path) -> None:
    err = error_of({"docker-bake.hcl": 'target "a" {\n  args = { X = 1' + " + 1" * 10000 + " }\n}\n"}, tmp_path)
    assert err.summary == "Expression too complex"
    assert err.rng is not None and err.rng.line == 2


@pytest.mark.parametrize(("compose", "message", "line"), [
    ("services:\n  a:\n    build:\n      args: 1\n", "services.a.build.args must be a mapping or a list", 4),
    ("services:\n  a:\n    build:\n      tags: x\n", "services.a.build.tags must be a list of strings", 4),
    ("services:\n  a:\n    build:\n      tags: [[1]]\n", "services.a.build.tags.0 must be a string", 4),
    ("services:\n  a:\n    build:\n      context: {a: 1}\n", "services.a.build.context must be a string", 4),
    ("services:\n  a:\n    build: 3\n", "services.a.build must be a string or a mapping", 3),
    ("services:\n  a:\n    build:\n      secrets: [1]\n", "services.a.build.secrets.0 must be a string or a mapping", 4),
    ("services:\n  a:\n    build:\n      ulimits: [1]\n", "services.a.build.ulimits must be a mapping", 4),
    ("services:\n  a:\n    build: .\nsecrets: [1]\n", "secrets must be a mapping", 4),
    ("services:\n  a:\n    build:\n      args:\n        A: [1]\n", "services.a.build.args.A must be a string", 5),
])
def test_compose_fields_of_the_wrong_type_are_located(tmp_path: Path, compose: str, message: str, line: int) -> None:
    err = error_of({"compose.yaml": compose}, tmp_path)
    assert err.detail == message
    assert err.rng is not None and err.rng.line == line


def test_deep_compose_documents_are_refused(tmp_path: Path) -> None:
    err = error_of({"compose.yaml": "services:\n  a:\n    build:\n      args: " + "[" * 10000 + "]" * 10000 + "\n"}, tmp_path)
    assert err.detail == "the document is nested too deeply"
    assert err.rng is not None and err.rng.line == 4
