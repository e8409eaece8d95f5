"""The app's planning side, without building: a request resolved once, targets converted into one
graph (``target:`` contexts reuse a target's graph), ``--call`` answers for every target, and
definition errors located in the bake file."""

from __future__ import annotations

from pathlib import Path

import pytest

from bake.app import Request, Resolved, graph_roots, resolve
from bake.app import call as call_method
from bake.app.build import _entitlements, _first_error, _needs_registry
from bake.app.outputs import Root
from bake.app.roots import labels
from bake.content.imageconfig import ImageConfig
from bake.errors import BakeError, DefinitionError, StepError, UsageError
from bake.exporter.specs import plan_specs
from bake.model import Plan


def project(tmp_path: Path, hcl: str, dockerfile: str = "FROM scratch AS base\nCOPY a /a\nFROM base\nCOPY b /b\n",
            ) -> Request:
    (tmp_path / "Dockerfile").write_text(dockerfile)
    (tmp_path / "a").write_text("a")
    (tmp_path / "b").write_text("b")
    (tmp_path / "docker-bake.hcl").write_text(hcl)
    return Request(cwd=str(tmp_path), env={"BAKE_ROOT": str(tmp_path / "root")})


def test_a_target_context_reuses_that_targets_graph(tmp_path: Path) -> None:
    req = project(tmp_path, 'group "default" {\n  targets = ["base", "app"]\n}\n'
                            'target "base" {\n  target = "base"\n}\n'
                            'target "app" {\n  dockerfile-inline = "FROM base\\nCOPY b /b\\n"\n'
                            '  contexts = { base = "target:base" }\n  platforms = ["linux/amd64", "linux/arm64"]\n}\n')
    resolved = resolve(req)
    roots = graph_roots(resolved)
    assert sorted((r.target, r.platform) for r in roots) == [
        ("app", "linux/amd64"), ("app", "linux/arm64"), ("base", "linux/amd64")]
    by = {(r.target, r.platform): r.vertex for r in roots}
    base, app = by["base", "linux/amd64"], by["app", "linux/amd64"]
    assert base is not None and app is not None and base in app.inputs  # the same vertex, not a copy


def test_labels_name_the_platform_only_where_a_target_has_several() -> None:
    roots = [Root("a", "linux/amd64", None, ImageConfig()), Root("b", "linux/amd64", None, ImageConfig()),
             Root("b", "linux/arm64", None, ImageConfig())]
    assert labels(roots) == ["a", "b (linux/amd64)", "b (linux/arm64)"]


def test_call_answers_for_every_target(tmp_path: Path) -> None:
    req = project(tmp_path, 'group "default" {\n  targets = ["one", "two"]\n}\ntarget "one" {}\n'
                            'target "two" {\n  args = { V = "2" }\n}\n',
                  "# the base\nFROM scratch AS base\nARG V=1\nCOPY a /a\nFROM base\n")
    resolved = resolve(req)
    targets, failed = call_method(resolved, "targets")
    assert not failed and targets.count("target ") == 2 and "base" in targets
    outline, _ = call_method(resolved, "outline")
    assert "V" in outline
    check, failed = call_method(resolved, "check")
    assert "target one" in check
    with pytest.raises(UsageError, match="unknown call method: nope"):
        call_method(resolved, "nope")


def test_a_missing_dockerfile_is_named(tmp_path: Path) -> None:
    req = project(tmp_path, 'target "default" {\n  dockerfile = "Nope"\n}\n')
    with pytest.raises(UsageError, match=r"failed to read dockerfile: open .*/Nope: No such file"):
        graph_roots(resolve(req))


def test_errors_found_converting_are_located_in_the_bake_file(tmp_path: Path) -> None:
    req = project(tmp_path, 'target "default" {\n  tags = ["x"]\n}\n')
    resolved = resolve(req)
    with pytest.raises(DefinitionError) as info, resolved.located():
        raise DefinitionError("Bad", "something", None)
    assert info.value.summary == "Bad"
    with pytest.raises(DefinitionError, match="too deeply nested"), resolved.located():
        raise RecursionError()


def test_a_resolved_request_is_planned_once_and_can_be_pickled_to_the_rootless_child(tmp_path: Path) -> None:
    import pickle

    resolved = resolve(project(tmp_path, 'target "default" {\n  output = ["type=local,dest=out"]\n}\n'))
    assert isinstance(resolved, Resolved) and list(resolved.plan.targets) == ["default"]
    assert pickle.loads(pickle.dumps(resolved)) == resolved
    assert [f.name for f in resolved.files] == ["docker-bake.hcl"]


def test_which_builds_need_a_registry_to_export(tmp_path: Path) -> None:
    def needs(hcl: str) -> bool:
        d = tmp_path / str(len(list(tmp_path.iterdir())))
        d.mkdir()
        return _needs_registry(plan_specs(resolve(project(d, hcl)).plan))

    assert not needs('target "default" {\n  output = ["type=local,dest=o", "type=image,name=x"]\n}\n')
    assert needs('target "default" {\n  output = ["type=image,name=r/x,push=true"]\n}\n')
    assert needs('target "default" {\n  output = ["type=registry,name=r/x"]\n}\n')
    assert needs('target "default" {\n  cache-to = ["type=registry,ref=r/c"]\n}\n')
    assert not needs('target "default" {\n  cache-to = ["type=gha", "type=inline", "type=local,dest=c"]\n}\n')


def test_entitlements_are_granted_or_refused_before_building() -> None:
    from bake.model import Target

    host = Target(("name",), "t", network="host")
    assert _entitlements(Plan({}, {"t": host}), ()) == ("network.host",)
    asks = Target(("name",), "t", entitlements=("security.insecure",))
    with pytest.raises(UsageError, match=r"target t asks for security\.insecure: grant it with --allow security\.insecure"):
        _entitlements(Plan({}, {"t": asks}), ())
    assert _entitlements(Plan({}, {"t": asks}), ("security.insecure",)) == ("security.insecure",)


def test_the_first_step_error_is_the_one_raised() -> None:
    plain, step = BakeError("plain"), StepError("[1/1] RUN x", "exit code 1", ("t",))
    assert _first_error((("a", plain), ("b", step))) is step
    assert _first_error((("a", plain),)) is plain
