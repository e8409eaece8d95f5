"""What one bake file may make bake compute is bounded, and each bound is named when it is hit."""

from __future__ import annotations

import re
import resource

import pytest

from bake.errors import DefinitionError
from bake.hcl.bakefile.matrix import MAX_MATRIX
from bake.hcl.engine.values import MAX_COLLECTION_LENGTH, MAX_STRING_LENGTH
from tests.conftest import PrintFn


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


@pytest.mark.parametrize(("expr", "message"), [
    ('format("%1000000000s", "a")', f"a width of 1000000000 would make a string longer than {MAX_STRING_LENGTH}"),
    ('format("%.1000000000f", 1)', "a precision of 1000000000 would make a string longer"),
    ('indent(100000000, "a\\nb")', "the result would have 100000003 characters"),
    ('replace(format("%1000000s", ""), " ", format("%100s", ""))', "the result would have 100000000 characters"),
    ('join(",", [for i in range(1000): format("%100000s", "")])', "the result would have 100000999 characters"),
    ("setproduct(range(1000), range(1000), range(2))", f"the product would have 2000000 elements; a collection may hold at most {MAX_COLLECTION_LENGTH}"),
])
def test_functions_refuse_values_beyond_the_limits_before_building_them(bake_print: PrintFn, expr: str, message: str) -> None:
    before = peak_rss_mb()
    with pytest.raises(DefinitionError, match=re.escape(message)) as info:
        bake_print(f'target "a" {{\n  args = {{ X = {expr} }}\n}}\n', ["a"])
    assert info.value.summary == "Error in function call" and info.value.rng is not None
    assert "bake's limit on one value" in info.value.detail
    assert peak_rss_mb() - before < 200  # refused, not built


def test_templates_that_double_are_refused_at_the_limit(bake_print: PrintFn) -> None:
    steps = "\n".join(f'variable "v{i + 1}" {{\n  default = "${{v{i}}}${{v{i}}}"\n}}' for i in range(30))
    with pytest.raises(DefinitionError, match="a string may hold at most") as info:
        bake_print(f'variable "v0" {{\n  default = "{"x" * 1024}"\n}}\n{steps}\ntarget "a" {{\n  args = {{ X = v30 }}\n}}\n', ["a"])
    assert info.value.summary == "Value too large"


def test_a_large_string_is_fine_below_the_limit(bake_print: PrintFn) -> None:
    out = bake_print('target "a" {\n  args = { X = "' + "a" * 5_000_000 + '" }\n}\n', ["a"])
    assert len(out["target"]["a"]["args"]["X"]) == 5_000_000


def test_a_matrix_beyond_the_limit_is_refused_before_it_is_expanded(bake_print: PrintFn) -> None:
    lists = ", ".join(f"k{i} = range(10)" for i in range(6))
    with pytest.raises(DefinitionError) as info:
        bake_print(f'target "a" {{\n  matrix = {{ {lists} }}\n  name = "a-${{k0}}-${{k5}}"\n}}\n', ["a"])
    assert info.value.summary == "Matrix too large"
    assert f"make 1000000 targets; a matrix may make at most {MAX_MATRIX}" in info.value.detail
    assert info.value.rng is not None and info.value.rng.line == 2
