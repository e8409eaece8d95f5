"""Differences from buildx v0.36.1 found by the public bake-file corpus (scripts/differential_bake.py).

Each expected value is what ``docker buildx bake --print`` printed for the same text.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bake.app import Request, open_project
from bake.errors import DefinitionError
from bake.hcl.bakefile.printer import list_targets, list_variables
from bake.model import build_platforms
from tests.conftest import PrintFn

# the conditional's branches are a set (setsubtract) and a tuple: HCL unifies them to a set, so the
# tuple branch comes out sorted (alfresco-dockerfiles-bakery's exclude_if_version)
SET_OR_TUPLE = '''
variable "V" { default = "" }
function "drop_if" {
  params = [versions, items, excluded]
  result = contains(versions, V) ? setsubtract(items, excluded) : items
}
group "all" { targets = drop_if(["7"], ["web", "api", "audit"], ["audit"]) }
target "web" {}
target "api" {}
target "audit" {}
'''


def test_a_conditional_whose_other_branch_is_a_set_gives_a_set(bake_print: PrintFn) -> None:
    assert bake_print(SET_OR_TUPLE, ["all"])["group"]["all"] == {"targets": ["api", "audit", "web"]}
    assert bake_print(SET_OR_TUPLE, ["all"], env={"V": "7"})["group"]["all"] == {"targets": ["api", "web"]}


def test_a_conditional_of_two_tuples_keeps_their_order(bake_print: PrintFn) -> None:
    out = bake_print('target "default" { tags = true ? ["b", "a"] : ["c"] }')
    assert out["target"]["default"]["tags"] == ["b", "a"]


def test_a_conditional_ignores_errors_of_the_branch_it_does_not_take(bake_print: PrintFn) -> None:
    out = bake_print('target "default" { tags = true ? ["b", "a"] : setsubtract(1) }')
    assert out["target"]["default"]["tags"] == ["b", "a"]


def test_matrix_order_is_the_one_buildx_gives_most_often(bake_print: PrintFn) -> None:
    # buildx walks the matrix as a Go map (its order changes between runs); 9 runs of 12 printed
    # this one: keys sorted, the first varying fastest
    text = '''
target "t" {
  name = "t-${a}-${b}-${c}"
  matrix = {
    c = ["1", "2"]
    a = ["x", "y"]
    b = ["p", "q"]
  }
}
'''
    assert bake_print(text, ["t"])["group"]["t"]["targets"] == [
        "t-x-p-1", "t-y-p-1", "t-x-q-1", "t-y-q-1", "t-x-p-2", "t-y-p-2", "t-x-q-2", "t-y-q-2"]


def test_a_byte_order_mark_before_hcl_is_skipped(bake_print: PrintFn) -> None:
    out = bake_print('\ufefftarget "default" {\n  tags = ["x"]\n}\n')
    assert out["target"] == {"default": {"context": ".", "dockerfile": "Dockerfile", "tags": ["x"]}}


def test_platform_entries_with_commas_and_local_in_any_case_print_as_written(bake_print: PrintFn) -> None:
    out = bake_print('target "default" { platforms = ["LOCAL", "linux/arm64,linux/riscv64"] }')
    assert out["target"]["default"]["platforms"] == ["LOCAL", "linux/arm64,linux/riscv64"]
    out = bake_print('target "default" {}', overrides=["*.platform=linux/arm64,linux/amd64"])
    assert out["target"]["default"]["platforms"] == ["linux/arm64,linux/amd64"]


def test_each_platform_of_a_comma_entry_must_parse(bake_print: PrintFn) -> None:
    with pytest.raises(DefinitionError, match="bogus/x/y/z"):
        bake_print('target "default" {}', overrides=["*.platform=linux/arm64,bogus/x/y/z"])


def test_a_comma_entry_builds_each_platform_once() -> None:
    assert build_platforms(("Local", "linux/arm64,linux/amd64", "linux/arm64"), "linux/amd64") == (
        "linux/amd64", "linux/arm64")


COMPOSE = '''
services:
  web:
    build: .
  db:
    ports: ["5432:5432"]
'''


def test_a_compose_service_without_image_or_build_is_an_error(bake_print: PrintFn) -> None:
    with pytest.raises(DefinitionError) as err:
        bake_print(files={"compose.yaml": COMPOSE})
    assert 'service "db" has neither an image nor a build context specified: invalid compose project' in str(err.value)


def test_another_compose_file_may_give_the_service_its_image(bake_print: PrintFn) -> None:
    out = bake_print(files={"compose.yaml": COMPOSE, "compose.override.yaml": "services:\n  db:\n    image: postgres\n"})
    assert out == {"group": {"default": {"targets": ["web"]}},
                   "target": {"web": {"context": ".", "dockerfile": "Dockerfile"}}}


def _listing(tmp_path: Path, files: dict[str, str], kind: str) -> str:
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    project = open_project(Request(tuple(files), cwd=str(tmp_path), env={}))
    if kind == "targets":
        return list_targets(project.resolver.blocks, project.resolver.groups, True)
    return list_variables(project.variables(), True)


def test_json_lists_of_nothing_are_null_or_empty_as_buildx_marshals_them(tmp_path: Path) -> None:
    # buildx: a nil slice prints null, an empty one []; HCL and JSON files always make the variable list
    assert _listing(tmp_path, {"docker-bake.hcl": 'target "a" {}\n'}, "variables") == "[]\n"
    assert _listing(tmp_path, {"compose.yaml": "services:\n  web:\n    build: .\n"}, "variables") == "null\n"
    assert _listing(tmp_path, {"empty.hcl": 'variable "V" {}\n'}, "targets") == "null\n"


def test_listing_variables_evaluates_the_targets_too(tmp_path: Path) -> None:
    # buildx: docker-bake.hcl:2,25-27: Unknown variable; There is no variable named "t3". Did you mean "V"?…
    files = {"docker-bake.hcl": 'variable "V" {}\ntarget "t" { tags = [V, t3] }\n'}
    with pytest.raises(DefinitionError, match='no variable named "t3"'):
        _listing(tmp_path, files, "variables")


@pytest.mark.parametrize(("expr", "printed"), [
    # what buildx printed for V = jsonencode(<expr>): HCL unifies the types of both branches
    ('true ? 1 : "a"', '"1"'),
    ('false ? "1" : 2', '"2"'),
    ('true ? true : "a"', '"true"'),
    ('true ? ["a", 1] : []', '["a","1"]'),
    ('true ? [1, 2] : ["a"]', '["1","2"]'),
    ('true ? [1, "a"] : ["a", 1]', '["1","a"]'),
    ('true ? ["a", 1] : ["b", 2]', '["a",1]'),
    ('true ? [1, 2] : []', "[1,2]"),
    ('true ? [1] : [2, 3]', "[1]"),
    ('true ? [1, 2] : null', "[1,2]"),
])
def test_a_conditional_unifies_its_branch_types(bake_print: PrintFn, expr: str, printed: str) -> None:
    out = bake_print(f'target "default" {{\n  args = {{\n    V = jsonencode({expr})\n  }}\n}}\n')
    assert out["target"]["default"]["args"]["V"] == printed


def test_length_counts_collections_not_strings(bake_print: PrintFn) -> None:
    # buildx: Call to function "length" failed: collection must be a list, a map or a tuple.
    assert bake_print('target "default" { args = { V = length(["a", "b"]) } }')["target"]["default"]["args"] == {"V": "2"}
    with pytest.raises(DefinitionError, match="collection must be a list, a map or a tuple"):
        bake_print('target "default" { args = { V = length("abc") } }')


def test_a_failed_validation_points_at_its_condition(bake_print: PrintFn) -> None:
    # buildx: docker-bake.hcl:4,17-37: Validation failed; no
    text = 'variable "V" {\n  default = "x"\n  validation {\n    condition = V != "x" && V != "y"\n    error_message = "no"\n  }\n}\ntarget "default" {}\n'
    with pytest.raises(DefinitionError) as err:
        bake_print(text)
    rng = err.value.rng
    assert rng is not None and (rng.line, rng.col, rng.end_line, rng.end_col) == (4, 17, 4, 37)
