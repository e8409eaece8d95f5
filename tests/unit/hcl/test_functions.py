"""The function library: go-cty semantics, checked through a bake file."""

from __future__ import annotations

import pytest

from bake.errors import DefinitionError
from tests.conftest import PrintFn

CASES = [
    ('upper("abc")', "ABC"), ('title("hello world-x")', "Hello World-X"), ('trimspace("  a ")', "a"),
    ('substr("hello", 1, 3)', "ell"), ('substr("hello", -3, -1)', "llo"), ('chomp("a\\n\\n")', "a"),
    ('indent(2, "a\\nb")', "a\n  b"), ('replace("a-b-c", "-", "+")', "a+b+c"),
    ('regex_replace("v1.2.3", "^v([0-9]+).*", "$1")', "1"), ('regex("[a-z]+", "123abc")', "abc"),
    ('sanitize("foo/bar!@(ba+z)")', "foo_bar___ba_z_"), ('format("%5.1f|%-3s|%t", 3.14159, "x", true)', "  3.1|x  |true"),
    ('urlencode("a b&c")', "a+b%26c"), ('base64encode("hi")', "aGk="), ('base64decode("aGk=")', "hi"),
    ('sha256("")', "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
    ('md5("a")', "0cc175b9c0f1b6a831c399e269772661"),
    ('uuidv5("dns", "example.com")', "cfbff0d1-9375-5685-968c-48ce8b15ae17"),
    ('jsonencode({b = [1, "x", null], a = true})', '{"a":true,"b":[1,"x",null]}'),
    ('jsondecode("{\\"a\\": [1.5]}").a[0]', "1.5"), ('csvdecode("a,b\\n1,2")[0].b', "2"),
    ("index([\"a\", \"b\"], 1)", "b"), ('indexof(["a", "b"], "b")', "1"), ("element([1, 2, 3], 4)", "2"),
    ('coalesce(null, "", "x")', ""), ('join(",", compact(["a", "", "b"]))', "a,b"),
    ("length(distinct([1, 1, 2]))", "2"), ('join(",", flatten([["a"], [["b"]]]))', "a,b"),
    ('join(",", keys({b = 1, a = 2}))', "a,b"), ('lookup({a = "x"}, "b", "d")', "d"),
    ('jsonencode(merge({a = 1}, {b = 2}))', '{"a":1,"b":2}'), ('join(",", slice(["a", "b", "c"], 1, 3))', "b,c"),
    ('join(",", sort(["b", "a"]))', "a,b"), ('jsonencode(zipmap(["a"], [1]))', '{"a":1}'),
    ('jsonencode(chunklist([1, 2, 3], 2))', "[[1,2],[3]]"), ('jsonencode(range(1, 4))', "[1,2,3]"),
    ('jsonencode(setunion(["b"], ["a", "b"]))', '["a","b"]'), ('jsonencode(setproduct(["a"], [1, 2]))', '[["a",1],["a",2]]'),
    ("ceil(1.2)", "2"), ("floor(-1.2)", "-2"), ("pow(2, 10)", "1024"), ("log(8, 2)", "3"), ('parseint("ff", 16)', "255"),
    ("signum(-4)", "-1"), ("greaterthan(2, 1)", "true"), ("equal([1], [1])", "true"),
    ('semvercmp("1.2.3", ">= 1.2.0, < 2")', "true"), ('semvercmp("2.0.0", "^1.2")', "false"),
    ('cidrsubnet("10.0.0.0/16", 8, 2)', "10.0.2.0/24"), ('cidrhost("10.0.0.0/24", 5)', "10.0.0.5"),
    ('cidrnetmask("10.0.0.0/12")', "255.240.0.0"), ('jsonencode(cidrsubnets("10.0.0.0/8", 8, 8))', '["10.0.0.0/16","10.1.0.0/16"]'),
    ('formatdate("YYYY-MM-DD hh:mm", "2024-02-29T13:05:00Z")', "2024-02-29 13:05"),
    ('timeadd("2024-01-01T00:00:00Z", "90m")', "2024-01-01T01:30:00Z"),
    ("unixtimestampparse(1690328596).iso_week", "30"), ('basename("/a/b/")', "b"), ('dirname("a/b")', "a"),
    ('try(nope.x, "fallback")', "fallback"), ("can(1 + 1)", "true"), ('jsonencode(convert([1], list(string)))', '["1"]'),
    ('reverse("abc")', "cba"), ('strlen("héllo")', "5"), ("byteslen(\"é\")", "2"),
]


@pytest.mark.parametrize(("expr", "want"), CASES)
def test_function(bake_print: PrintFn, expr: str, want: str) -> None:
    out = bake_print(f'target "default" {{\n  args = {{ V = {expr} }}\n}}\n')
    assert out["target"]["default"]["args"]["V"] == want


@pytest.mark.parametrize(("expr", "message"), [
    ('upper("a", "b")', 'Function "upper" expects only 1 argument'),
    ("upper()", 'Missing value for "str"'),
    ("upper(null)", "argument must not be null"),
    ('regex("x", "y")', "pattern did not match"),
    ("element([], 0)", "empty list"),
])
def test_function_errors(bake_print: PrintFn, expr: str, message: str) -> None:
    with pytest.raises(DefinitionError, match=message):
        bake_print(f'target "default" {{\n  args = {{ V = {expr} }}\n}}\n')


def test_every_buildx_function_is_registered() -> None:
    from bake.hcl.engine.functions import STDLIB

    buildx = ["absolute", "add", "and", "base64decode", "base64encode", "basename", "bcrypt", "byteslen", "bytesslice", "can", "ceil", "chomp", "chunklist", "cidrhost", "cidrnetmask", "cidrsubnet", "cidrsubnets", "coalesce", "coalescelist", "compact", "concat", "contains", "convert", "csvdecode", "dirname", "distinct", "divide", "element", "equal", "flatten", "floor", "format", "formatdate", "formatlist", "formattimestamp", "greaterthan", "greaterthanorequalto", "hasindex", "homedir", "indent", "index", "indexof", "int", "join", "jsondecode", "jsonencode", "keys", "length", "lessthan", "lessthanorequalto", "log", "lookup", "lower", "max", "md5", "merge", "min", "modulo", "multiply", "negate", "not", "notequal", "or", "parseint", "pow", "range", "regex", "regex_replace", "regexall", "replace", "reverse", "reverselist", "rsadecrypt", "sanitize", "semvercmp", "sethaselement", "setintersection", "setproduct", "setsubtract", "setsymmetricdifference", "setunion", "sha1", "sha256", "sha512", "signum", "slice", "sort", "split", "strlen", "substr", "subtract", "timeadd", "timestamp", "title", "trim", "trimprefix", "trimspace", "trimsuffix", "try", "unixtimestampparse", "upper", "urlencode", "uuidv4", "uuidv5", "values", "zipmap"]
    assert set(buildx) <= set(STDLIB)


def test_lazy_index_matches_the_modules() -> None:
    import importlib

    from bake.hcl.engine.functions import INDEX

    for name, module in INDEX.items():
        assert name in importlib.import_module(f"bake.hcl.engine.functions.{module}").lib.table
    for module in set(INDEX.values()):
        table = importlib.import_module(f"bake.hcl.engine.functions.{module}").lib.table
        assert {n for n, m in INDEX.items() if m == module} == set(table)


@pytest.mark.parametrize(("expr", "want"), [
    ('formattimestamp("X", "2024-01-01T00:00:00Z")', "1704067200"),
    ('formattimestamp("YYYY-MM-DD", 1704067200)', "2024-01-01"),
    ('formattimestamp("X", 1704067200)', "1704067200"),
])
def test_formattimestamp(bake_print: PrintFn, expr: str, want: str) -> None:
    out = bake_print(f'target "default" {{\n  args = {{ V = {expr} }}\n}}\n')
    assert out["target"]["default"]["args"]["V"] == want
