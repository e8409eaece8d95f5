"""Requesting groups and targets: what --print lists under "group" and "target"."""

from __future__ import annotations

import pytest

from tests.conftest import PrintFn

NESTED = '''
group "a" { targets = ["b", "c"] }
group "b" { targets = ["d"] }
group "c" { targets = ["b"] }
target "d" { dockerfile = "./testdockerfile" }
group "e" { targets = ["a", "f"] }
target "f" { context = "./foo" }
'''


@pytest.mark.parametrize(("names", "groups", "targets"), [
    (["a"], ["a", "b", "c", "default"], ["d"]),
    (["b"], ["b", "default"], ["d"]),
    (["c"], ["b", "c", "default"], ["d"]),
    (["d"], ["default"], ["d"]),
    (["e"], ["a", "b", "c", "default", "e"], ["d", "f"]),
])
def test_nested_groups_sharing_a_target(bake_print: PrintFn, names: list[str], groups: list[str], targets: list[str]) -> None:
    out = bake_print(NESTED, names)
    assert sorted(out["group"]) == groups
    assert sorted(out["target"]) == targets
    assert out["group"]["default"]["targets"] == names


def test_group_and_target_with_the_same_name(bake_print: PrintFn) -> None:
    text = 'group "foo" { targets = ["foo", "image"] }\ntarget "foo" { dockerfile = "bar" }\ntarget "image" { output = ["type=docker"] }\n'
    out = bake_print(text, ["foo"])
    assert out["group"] == {"default": {"targets": ["foo"]}, "foo": {"targets": ["foo", "image"]}}
    assert out["target"]["foo"]["dockerfile"] == "bar"
    assert out["target"]["image"]["output"] == [{"type": "docker"}]


def test_requested_default_group_absorbs_other_names_sorted(bake_print: PrintFn) -> None:
    text = '''
group "default" { targets = ["app", "multiarch"] }
target "app" {}
target "foo" {}
target "multiarch" {}
'''
    assert bake_print(text, ["default", "foo"])["group"]["default"] == {"targets": ["app", "foo", "multiarch"]}


def test_overrides_on_a_parent_reach_children(bake_print: PrintFn) -> None:
    text = '''
target "grandparent" {
  output = ["type=docker"]
  args = { BAR = "fuu" }
}
target "parent" {
  inherits = ["grandparent"]
  args = { FOO = "bar" }
}
target "child1" { inherits = ["parent"] }
target "child2" {
  inherits = ["parent"]
  args = { FOO2 = "bar2" }
}
group "default" { targets = ["child1", "child2"] }
'''
    out = bake_print(text, overrides=["grandparent.args.BAR=fii", "child1.args.FOO=baaar"])["target"]
    assert out["child1"]["args"] == {"BAR": "fii", "FOO": "baaar"}
    assert out["child2"]["args"] == {"BAR": "fii", "FOO": "bar", "FOO2": "bar2"}


def test_linked_target_platforms_must_be_a_superset(bake_print: PrintFn) -> None:
    from bake.errors import DefinitionError

    text = '''
target "mid" { platforms = ["linux/amd64", "linux/riscv64", "linux/arm64"] }
target "app" {
  contexts = { bar = "target:mid" }
  platforms = ["linux/amd64", "linux/arm64"]
}
'''
    assert sorted(bake_print(text, ["app"])["target"]) == ["app", "mid"]
    bad = text.replace('"linux/riscv64", ', "").replace('"linux/amd64", "linux/arm64"]\n}', '"linux/amd64", "linux/s390x"]\n}')
    with pytest.raises(DefinitionError, match="are not a subset of"):
        bake_print(bad, ["app"])
