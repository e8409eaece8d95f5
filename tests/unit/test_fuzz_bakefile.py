"""Property: loading any bake file (HCL, JSON, compose) and resolving its targets either works or
raises a ``BakeError`` — never another exception, never a traceback for the user.

Inputs are random text over the languages' own alphabets and structured mutations (deletions,
insertions of syntax tokens, duplications, deep nesting) of the example projects' bake files.
Derandomized: every run tries the same cases, so a failure here is reproducible.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bake.errors import BakeError
from bake.hcl.bakefile.loader import File, Project
from bake.hcl.bakefile.printer import render_plan

ROOT = Path(__file__).resolve().parents[2]
HCL_SEEDS = [p.read_text() for p in sorted(ROOT.glob("examples/*/docker-bake.hcl"))] + [
    (ROOT / "docker-bake.hcl").read_text(),
    'variable "N" {\n  type = number\n  default = 3\n  validation {\n    condition = N > 1\n'
    '    error_message = "small"\n  }\n}\nfunction "twice" {\n  params = [x]\n  result = x * 2\n}\n'
    'target "a" {\n  args = { N = "${twice(N) % 7 / 2}", L = join(",", [for i in range(N): i]) }\n'
    '  tags = [format("%05d", N), upper("x${N}")]\n  matrix = { v = [1, 2] }\n  name = "a-${v}"\n'
    "  dockerfile-inline = <<-EOT\n    FROM scratch\n    %{ if N > 2 }ENV X=${N}%{ endif }\n  EOT\n}\n",
]
JSON_SEEDS = [
    json.dumps({"variable": {"V": {"default": "1.0"}}, "group": {"default": {"targets": ["a"]}},
                "target": {"a": {"context": ".", "tags": ["x:${V}"], "args": {"A": "${V}"}, "platforms": ["linux/amd64"]}}}),
]
COMPOSE_SEEDS = [
    "services:\n  web:\n    build:\n      context: .\n      dockerfile: Dockerfile\n      args:\n        A: ${A:-1}\n"
    "      tags: [\"x:1\"]\n      target: prod\n      cache_from: [type=local,src=c]\n      secrets: [s]\n"
    "    image: web:${TAG-latest}\nsecrets:\n  s:\n    file: ./s.txt\n",
]
HCL_TOKENS = ['"', "{", "}", "[", "]", "(", ")", "${", "%{", "=", ",", "\n", "...", "~", "<<EOT\n", "EOT\n",
              ".*", "[*]", "null", "-", "%", "/", "1e308", "1e-308", "0", "?", ":", "for ", " in ", "if ", "=>",
              "target", "matrix", "inherits", "\\", "\\u0000", "\xff", "#", "/*", "*/", "!", "&&", "*"]
JSON_TOKENS = ['"', "{", "}", "[", "]", ":", ",", "null", "1e999", "-0", "true", '"${', '"%{', "\\u", "target",
               "variable", "function", "group", "matrix", "validation", "[[[[", "{}", "[]"]
YAML_TOKENS = [":", "- ", "{", "}", "[", "]", "\n", "  ", "&a ", "*a", "!!binary ", "~", "null", "1", "build",
               "args", "services", "context", "x-", "<<: ", "${", "$$", "? ", "|", ">"]

SETTINGS = settings(max_examples=300, derandomize=True, deadline=None, database=None,
                    suppress_health_check=list(HealthCheck))


@pytest.fixture(autouse=True, scope="module")
def _no_parse_cache() -> Iterator[None]:
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("BAKE_NO_PARSE_CACHE", "1")
        yield


def load(name: str, text: str) -> None:
    """Everything a user reaches with one file: loading, ``--list``, ``--print`` of every target."""
    try:
        project = Project([File(name, text)], env={}, cwd=os.devnull)
        names = sorted(project.definition.instances()) + sorted(project.definition.group_blocks)
        render_plan(project.plan(names or ["default"]))
    except BakeError:
        pass


def mutations(seeds: list[str], tokens: list[str]) -> st.SearchStrategy[str]:
    """A seed with a few edits: a span deleted, a token inserted, a span repeated."""
    edit = st.tuples(st.sampled_from(["delete", "insert", "repeat"]), st.floats(0, 1), st.integers(1, 12),
                     st.sampled_from(tokens))

    def apply(seed: str, edits: list[tuple[str, float, int, str]]) -> str:
        text = seed
        for kind, where, size, token in edits:
            i = int(where * len(text))
            if kind == "delete":
                text = text[:i] + text[i + size:]
            elif kind == "insert":
                text = text[:i] + token * (1 + size // 6) + text[i:]
            else:
                text = text[:i] + text[i:i + size] * 3 + text[i:]
        return text

    return st.builds(apply, st.sampled_from(seeds), st.lists(edit, min_size=1, max_size=4))


def noise(tokens: list[str]) -> st.SearchStrategy[str]:
    return st.lists(st.one_of(st.sampled_from(tokens), st.text(max_size=6)), max_size=40).map("".join)


@SETTINGS
@given(st.one_of(mutations(HCL_SEEDS, HCL_TOKENS), noise(HCL_TOKENS)))
def test_hcl_files_fail_only_with_bake_errors(text: str) -> None:
    load("docker-bake.hcl", text)


@SETTINGS
@given(st.one_of(mutations(JSON_SEEDS, JSON_TOKENS), noise(JSON_TOKENS)))
def test_json_files_fail_only_with_bake_errors(text: str) -> None:
    load("docker-bake.json", text)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8)
    | st.sampled_from(["${A}", "%{ if true }x%{ endif }", "${", "target", "."]),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(
        st.sampled_from(["target", "group", "variable", "function", "a", "args", "tags", "matrix", "default",
                         "inherits", "context", "params", "result", "validation", "type", "name"]), inner, max_size=3),
    max_leaves=12,
)


@SETTINGS
@given(st.dictionaries(st.sampled_from(["target", "group", "variable", "function", "x"]), json_values, max_size=3))
def test_json_documents_of_any_shape_fail_only_with_bake_errors(doc: dict[str, object]) -> None:
    load("docker-bake.json", json.dumps(doc))


@SETTINGS
@given(st.one_of(mutations(COMPOSE_SEEDS, YAML_TOKENS), noise(YAML_TOKENS)))
def test_compose_files_fail_only_with_bake_errors(text: str) -> None:
    load("compose.yaml", text)


compose_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=6),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(
        st.sampled_from(["build", "args", "context", "dockerfile", "tags", "target", "image", "platforms",
                         "labels", "secrets", "ssh", "cache_from", "cache_to", "network", "shm_size",
                         "extra_hosts", "additional_contexts", "x-bake", "file", "environment", "a"]),
        inner, max_size=4),
    max_leaves=16,
)


@SETTINGS
@given(st.dictionaries(st.sampled_from(["services", "secrets", "x"]),
                       st.dictionaries(st.sampled_from(["web", "db"]), compose_values, max_size=2) | compose_values,
                       max_size=2))
def test_compose_documents_of_any_shape_fail_only_with_bake_errors(doc: dict[str, object]) -> None:
    load("compose.yaml", yaml.safe_dump(doc))


NUMBERS = ["0", "1", "-1", "0.5", "1e308", "1e-308", "1e999998", "-1e999998", "123456789012345678901234567890",
           "0.1", "3", "1e30", "2"]
STRINGS = ['""', '"a"', '"a,b"', '"%s"', '"%d %v"', '"%05.2f"', '"%%"', '"${1/0}"', '"2006-01-02T15:04:05Z"',
           '"1.2.3"', '"10.0.0.0/8"', '"[a-z]+"', '"(?P<x>a)"', '"{\\"a\\": 1}"', '"YQ=="', '"a\\nb"', '"%!"',
           '"%[2]s"', '"%*d"', '"x"']
# Functions whose legitimate cost grows with their arguments are called with bounded ones; the
# bounds on values are tested on their own (tests/unit/hcl/test_limits.py).
FUNCTIONS = sorted(set(__import__("bake.hcl.engine.functions", fromlist=["STDLIB"]).STDLIB) - {"bcrypt", "rsadecrypt"})


def expressions() -> st.SearchStrategy[str]:
    leaf = st.sampled_from(NUMBERS + STRINGS + ["true", "false", "null", "[]", "{}", "v", "N", "target.a.args"])
    unary = ["-", "!"]
    binary = ["+", "-", "*", "/", "%", "==", "!=", "<", ">=", "&&", "||"]

    def extend(inner: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
        return st.one_of(
            st.tuples(st.sampled_from(unary), inner).map(lambda t: f"{t[0]}{t[1]}"),
            st.tuples(inner, st.sampled_from(binary), inner).map(lambda t: f"({t[0]} {t[1]} {t[2]})"),
            st.tuples(st.sampled_from(FUNCTIONS), st.lists(inner, max_size=3)).map(
                lambda t: f"{t[0]}({', '.join(t[1])})"),
            st.lists(inner, max_size=3).map(lambda xs: f"[{', '.join(xs)}]"),
            st.lists(inner, max_size=2).map(lambda xs: "{" + ", ".join(f"k{i} = {x}" for i, x in enumerate(xs)) + "}"),
            inner.map(lambda x: f'"p-${{{x}}}-%{{ if {x} }}y%{{ endif }}"'),
            st.tuples(inner, inner).map(lambda t: f"[for k, x in {t[0]}: {t[1]}]"),
            st.tuples(inner, inner, inner).map(lambda t: f"{t[0]} ? {t[1]} : {t[2]}"),
            st.tuples(inner, inner).map(lambda t: f"{t[0]}[{t[1]}]"),
            inner.map(lambda x: f"{x}[*].a"),
        )

    return st.recursive(leaf, extend, max_leaves=8)


@SETTINGS
@given(expressions(), expressions())
def test_expressions_fail_only_with_bake_errors(expr: str, other: str) -> None:
    load("docker-bake.hcl", f'variable "N" {{\n  default = {other}\n}}\ntarget "a" {{\n  matrix = {{ v = [1, "x"] }}\n'
                            f'  name = "a-${{v}}"\n  args = {{\n    X = {expr}\n  }}\n  tags = [{expr}]\n}}\n')
