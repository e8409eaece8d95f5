"""The public Python API: bake.resolve returns the plan, bake.analyze the merged graph; neither prints."""

from __future__ import annotations

from pathlib import Path

import pytest

import bake


def test_public_api_does_not_drift() -> None:
    assert sorted(bake.__all__) == [
        "BakeError", "BuildFailed", "DefinitionError", "Group", "Plan", "StepError", "Target", "UsageError",
        "ValidationError", "analyze", "build", "resolve",
    ]


def test_load_returns_the_plan_silently(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "docker-bake.hcl").write_text('variable "TAG" { default = "1" }\ntarget "app" { tags = ["app:${TAG}"] }\n')
    plan = bake.resolve(targets=["app"], cwd=str(tmp_path), env={"TAG": "2"}, overrides=["app.args.X=y"])
    assert plan.targets["app"].tags == ("app:2",)
    assert plan.targets["app"].args == {"X": "y"}
    assert plan.groups["default"].targets == ("app",)
    assert capsys.readouterr() == ("", "")


def test_load_raises_structured_errors(tmp_path: Path) -> None:
    (tmp_path / "docker-bake.hcl").write_text('target "app" {\n  tags = [nope]\n}\n')
    with pytest.raises(bake.DefinitionError) as info:
        bake.resolve(targets=["app"], cwd=str(tmp_path), env={})
    err = info.value
    assert (err.summary, err.rng and (err.rng.line, err.rng.col)) == ("Unknown variable", (2, 11))
    assert err.snippet and "tags = [nope]" in "\n".join(err.snippet)


def test_plan_returns_the_merged_graph(tmp_path: Path) -> None:
    (tmp_path / "Dockerfile").write_text("FROM scratch AS base\nCOPY a /a\nFROM base AS x\nCOPY b /b\nFROM base AS y\nCOPY c /c\n")
    (tmp_path / "docker-bake.hcl").write_text(
        'group "default" {\n  targets = ["x", "y"]\n}\ntarget "x" {\n  target = "x"\n}\ntarget "y" {\n  target = "y"\n}\n')
    graph = bake.analyze(cwd=str(tmp_path), env={})
    assert [r.target for r in graph.roots] == ["x", "y"]
    shared = [graph.vertices[d].name for d in graph.shared]
    assert "[base 1/1] COPY a /a" in shared and graph.requested > len(graph.vertices)


def test_the_old_names_still_work_and_warn(tmp_path: Path) -> None:
    (tmp_path / "docker-bake.hcl").write_text('target "app" {\n  tags = ["app:1"]\n}\n')
    (tmp_path / "Dockerfile").write_text("FROM scratch\nCOPY a /a\n")
    with pytest.warns(DeprecationWarning, match=r"bake\.load\(\) is deprecated: use bake\.resolve\(\)"):
        plan = bake.load(targets=["app"], cwd=str(tmp_path), env={})
    assert plan == bake.resolve(targets=["app"], cwd=str(tmp_path), env={})
    with pytest.warns(DeprecationWarning, match=r"bake\.plan\(\) is deprecated: use bake\.analyze\(\)"):
        graph = bake.plan(targets=["app"], cwd=str(tmp_path), env={})
    assert [r.target for r in graph.roots] == ["app"]
    with pytest.raises(AttributeError):
        bake.nothing  # noqa: B018
