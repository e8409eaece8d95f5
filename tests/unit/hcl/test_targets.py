"""Targets, groups, inherits, matrix and target references."""

from __future__ import annotations

import pytest

from bake.errors import DefinitionError, UsageError
from tests.conftest import PrintFn


def test_minimal_target_prints_buildx_defaults(bake_print: PrintFn) -> None:
    assert bake_print('target "default" {}') == {
        "group": {"default": {"targets": ["default"]}},
        "target": {"default": {"context": ".", "dockerfile": "Dockerfile"}},
    }


def test_inherits_is_right_biased_per_field(bake_print: PrintFn) -> None:
    text = '''
target "a" {
  args = { X = "a", Y = "a" }
  tags = ["a"]
  cache-from = ["type=local,src=a"]
  secret = ["id=s,env=S"]
  dockerfile = "a.Dockerfile"
}
target "b" {
  args = { Y = "b", Z = null }
  tags = ["b"]
  cache-from = ["type=local,src=b"]
}
target "c" {
  inherits = ["a", "b"]
  args = { Z = "c" }
  platforms = ["linux/amd64"]
}
'''
    t = bake_print(text, ["c"])["target"]["c"]
    assert t["args"] == {"X": "a", "Y": "b", "Z": "c"}
    assert t["tags"] == ["b"]
    assert t["cache-from"] == [{"src": "a", "type": "local"}, {"src": "b", "type": "local"}]
    assert t["dockerfile"] == "a.Dockerfile"
    assert t["platforms"] == ["linux/amd64"]


def test_inherits_cycles_are_ignored(bake_print: PrintFn) -> None:
    text = 'target "a" {\n inherits = ["b"]\n tags = ["a"]\n}\ntarget "b" {\n inherits = ["a"]\n}\n'
    assert bake_print(text, ["a"])["target"]["a"]["tags"] == ["a"]


def test_groups_nest_and_dedupe(bake_print: PrintFn) -> None:
    text = '''
group "default" { targets = ["all", "x"] }
group "all" {
  description = "everything"
  targets = ["x", "y"]
}
target "x" {}
target "y" {}
'''
    out = bake_print(text)
    assert out["group"] == {
        "all": {"description": "everything", "targets": ["x", "y"]},
        "default": {"targets": ["all", "x"]},
    }
    assert sorted(out["target"]) == ["x", "y"]


def test_matrix_forks_targets_and_labels_a_group(bake_print: PrintFn) -> None:
    text = '''
target "app" {
  name = "app-${tgt}-${replace(v.ver, ".", "_")}"
  matrix = {
    tgt = ["a", "b"]
    v = [{ ver = "1.0" }]
  }
  target = tgt
  args = { VER = v.ver }
}
'''
    out = bake_print(text, ["app"])
    assert out["group"]["app"] == {"targets": ["app-a-1_0", "app-b-1_0"]}
    assert out["target"]["app-b-1_0"]["target"] == "b"
    assert out["target"]["app-a-1_0"]["args"] == {"VER": "1.0"}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('target "x" {\n  name = "y"\n}\n', "name requires matrix"),
        ('target "x" {\n  matrix = { a = ["1", "2"] }\n}\n', 'duplicate name "x"'),
        ('target "x" {\n  matrix = { a = ["b c"] }\n  name = a\n}\n', "only"),
        ('target "x" {\n  matrix = ["a"]\n}\n', "matrix must be a map"),
        ('group "g" {\n  matrix = {}\n}\n', "matrix is not supported for groups"),
    ],
)
def test_matrix_errors(bake_print: PrintFn, text: str, message: str) -> None:
    with pytest.raises(DefinitionError, match=message):
        bake_print(text, ["x"])


def test_target_references_see_own_attributes(bake_print: PrintFn) -> None:
    text = '''
target "base" {
  tags = ["base:1"]
  output = ["type=docker"]
}
target "app" {
  args = {
    FROM = target.base.tags[0]
    OUT = target.base.output[0].type
    NAME = target.base.name
  }
}
'''
    assert bake_print(text, ["app"])["target"]["app"]["args"] == {"FROM": "base:1", "OUT": "docker", "NAME": "base"}


def test_reference_cycles_are_reported(bake_print: PrintFn) -> None:
    text = 'target "a" {\n  dockerfile = target.b.dockerfile\n}\ntarget "b" {\n  dockerfile = target.a.dockerfile\n}\n'
    with pytest.raises(DefinitionError, match="reference cycle not allowed"):
        bake_print(text, ["a"])


def test_target_contexts_link_targets(bake_print: PrintFn) -> None:
    text = '''
target "base" { dockerfile = "base.Dockerfile" }
target "app" { contexts = { base = "target:base" } }
'''
    out = bake_print(text, ["app"])
    assert out["target"]["base"]["output"] == [{"type": "cacheonly"}]
    assert out["target"]["app"]["contexts"] == {"base": "target:base"}


def test_self_link_and_unknown_target(bake_print: PrintFn) -> None:
    with pytest.raises(DefinitionError, match="cannot link to itself"):
        bake_print('target "a" {\n  contexts = { x = "target:a" }\n}\n', ["a"])
    with pytest.raises(UsageError, match=r"failed to find target nope$"):
        bake_print('target "a" {}', ["nope"])
    with pytest.raises(UsageError, match=r"failed to find target prodution \(did you mean production\?\)"):
        bake_print('target "production" {}', ["prodution"])


def test_glob_requests_match_groups_and_targets(bake_print: PrintFn) -> None:
    out = bake_print('target "app1" {}\ntarget "app2" {}\ntarget "db" {}\n', ["app*"])
    assert out["group"]["default"] == {"targets": ["app1", "app2"]}
    with pytest.raises(UsageError, match='could not find any target matching "x\\*"'):
        bake_print('target "a" {}', ["x*"])


def test_context_paths_are_cleaned_and_outputs_normalised(bake_print: PrintFn) -> None:
    text = '''
target "default" {
  context = "./src/../app/"
  output = ["out", "type=registry,ref=x", ""]
  cache-from = ["a,b"]
  tags = ["x", "x", ""]
  network = "host"
}
'''
    t = bake_print(text)["target"]["default"]
    assert t["context"] == "app"
    assert t["output"] == [{"dest": "out", "type": "local"}, {"ref": "x", "type": "registry"}]
    assert t["cache-from"] == [{"ref": "a", "type": "registry"}, {"ref": "b", "type": "registry"}]
    assert t["tags"] == ["x"]
    assert t["entitlements"] == ["network.host"]


def test_several_files_merge_in_order(bake_print: PrintFn) -> None:
    files = {
        "a.hcl": 'variable "V" { default = "1" }\ntarget "app" {\n  tags = ["a"]\n  args = { X = "a" }\n}\n',
        "b.hcl": 'target "app" {\n  args = { Y = V }\n}\ngroup "default" { targets = ["app"] }\n',
    }
    t = bake_print(files=files)["target"]["app"]
    assert t["tags"] == ["a"] and t["args"] == {"X": "a", "Y": "1"}


def test_relative_paths_mode_rebases_local_contexts(bake_print: PrintFn) -> None:
    files = {
        "sub/docker-bake.hcl": '''
target "base" { context = "src" }
target "app" {
  inherits = ["base"]
  contexts = { lib = "../lib", img = "docker-image://alpine", t = "target:base" }
}
target "plain" {}
''',
    }
    env = {"BUILDX_BAKE_FILE_RELATIVE_PATHS": "1"}
    out = bake_print(files=files, targets=["app", "plain"], env=env)["target"]
    assert out["app"]["context"] == "sub/src"
    assert out["app"]["contexts"] == {"img": "docker-image://alpine", "lib": "lib", "t": "target:base"}
    assert out["plain"]["context"] == "sub"
    assert bake_print(files=files, targets=["plain"])["target"]["plain"]["context"] == "."


def test_outputs_and_cache_dedupe_like_buildx(bake_print: PrintFn) -> None:
    """buildx drops a duplicate by swapping it with the last entry, which reorders the rest."""
    text = '''
target "default" {
  output = ["type=docker", "type=docker", "type=oci,dest=o.tar", "type=tar,dest=t.tar"]
  cache-from = ["a", "a", "b", "c"]
}
'''
    t = bake_print(text)["target"]["default"]
    assert [o["type"] for o in t["output"]] == ["docker", "tar", "oci"]
    assert [c["ref"] for c in t["cache-from"]] == ["a", "c", "b"]


def test_same_name_blocks_accumulate_inherits(bake_print: PrintFn) -> None:
    text = '''
target "a" { args = { A = "1" } }
target "b" { args = { B = "1" } }
target "app" { inherits = ["a"] }
target "app" { inherits = ["b"] }
'''
    assert bake_print(text, ["app"])["target"]["app"]["args"] == {"A": "1", "B": "1"}


def test_policy_prints_as_buildx_struct(bake_print: PrintFn) -> None:
    text = 'target "default" {\n  policy = ["filename=p.rego,strict=true", { reset = true, log-level = "warn" }]\n}\n'
    assert bake_print(text)["target"]["default"]["policy"] == [
        {"Files": [{"Filename": "p.rego", "Data": None}], "Reset": False, "Disabled": False, "Strict": True, "LogLevel": None},
        {"Files": None, "Reset": True, "Disabled": False, "Strict": None, "LogLevel": "warning"},
    ]


def test_group_references(bake_print: PrintFn) -> None:
    text = '''
group "release" {
  description = "shipped"
  targets = ["a", "b"]
}
target "a" {}
target "b" {}
target "all" { args = { MEMBERS = join(",", group.release.targets), D = group.release.description } }
'''
    assert bake_print(text, ["all"])["target"]["all"]["args"] == {"MEMBERS": "a,b", "D": "shipped"}


def test_resources_print_in_buildx_field_order(bake_print: PrintFn) -> None:
    text = '''
target "base" {
  resources = {
    cpuset-cpus = "0-3"
    cpu-quota = 50000
    memory = "2g"
  }
}
target "app" {
  inherits = ["base"]
  resources = { memory-swap = "4g" }
}
'''
    out = bake_print(text, ["app", "base"], overrides=["app.resources.cpu-shares=1024"])["target"]
    assert list(out["app"]["resources"].items()) == [
        ("memory", "2g"), ("memory-swap", "4g"), ("cpu-shares", 1024), ("cpu-quota", 50000), ("cpuset-cpus", "0-3"),
    ]
    assert "memory-swap" not in out["base"]["resources"]  # the child's fields never leak into the parent


def test_local_platform_is_the_clients(bake_print: PrintFn) -> None:
    from bake.model import build_platforms

    out = bake_print('target "a" {\n  platforms = ["local", "linux/arm64"]\n}\n', ["a"])
    assert out["target"]["a"]["platforms"] == ["local", "linux/arm64"]  # printed as written, as buildx does
    assert build_platforms(("local", "linux/arm64", "linux/amd64"), "linux/amd64") == ("linux/amd64", "linux/arm64")
    assert build_platforms(None, "linux/amd64") == ("linux/amd64",)
