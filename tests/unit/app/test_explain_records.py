"""``--explain`` records, ``bake explain`` (``last_run``) and ``bake --plan --explain`` (``planned``)
on builds of ``FROM scratch`` and ``COPY`` (no container runtime), and the words of each cause."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path

import pytest

from bake.app import Request, resolve
from bake.app.build import BuildOptions, build
from bake.app.explain import Explanations, context_files, last_run, load, planned, render
from bake.content.stateroot import StateRoot
from bake.graph.digest import digest
from bake.graph.ops import Vertex
from bake.graph.state import local
from bake.progress.events import Event, Noted, Started, Step
from bake.solver.explain import Change, Reason
from bake.solver.keyplan import KeyPlan
from bake.worker.context import StatCache, checksum

HCL = """
target "default" {
  context = "ctx"
}
"""


def project(tmp_path: Path) -> Path:
    d = tmp_path / "project"
    (d / "ctx").mkdir(parents=True)
    (d / "docker-bake.hcl").write_text(HCL)
    (d / "ctx/Dockerfile").write_text("FROM scratch\nCOPY a /a\nCOPY b /b\n")
    (d / "ctx/a").write_text("a\n")
    (d / "ctx/b").write_text("b\n")
    return d


def bake(d: Path, root: Path, events: list[Event] | None = None, explain: bool = True) -> None:
    sink = events.append if events is not None else (lambda e: None)
    build(resolve(Request(cwd=str(d), env={})), BuildOptions(root=str(root), explain=explain), sink)


def notes(events: list[Event]) -> list[str]:
    return [e.text for e in events if isinstance(e, Noted) and e.text.startswith("why ")]


@pytest.mark.root
def test_each_step_that_ran_is_explained_and_bake_explain_repeats_it(tmp_path: Path) -> None:
    d, root = project(tmp_path), tmp_path / "root"
    first: list[Event] = []
    bake(d, root, first)
    assert notes(first) and all(n.endswith("first build of this target on this root") for n in notes(first))
    (d / "ctx/b").write_text("B\n")
    again: list[Event] = []
    bake(d, root, again)
    assert notes(again) == ["why [internal] load build context ran: context files changed: modified b (1 path)",
                            "why [2/2] COPY b /b ran: context files changed: modified b (1 path)"]

    lines = last_run(str(root), ["default"])
    assert lines[0].startswith("default: built ") and lines[0].endswith(", 2 steps ran")
    assert lines[1:] == [f"  {n}" for n in notes(again)]
    assert last_run(str(root), ["default", "web"])[-1] == "web: no build recorded on this root"
    assert last_run(str(root), []) == lines  # every recorded target


@pytest.mark.root
def test_a_cached_build_records_nothing_new_and_without_explain_nothing_is_shown(tmp_path: Path) -> None:
    d, root = project(tmp_path), tmp_path / "root"
    bake(d, root)
    folder = Path(StateRoot(str(root)).explain)
    (record,) = folder.iterdir()
    before = record.read_bytes()
    quiet: list[Event] = []
    bake(d, root, quiet, explain=False)
    assert notes(quiet) == []
    assert record.read_bytes() == before


@pytest.mark.root
def test_plan_explain_forecasts_what_would_run_without_running_it(tmp_path: Path) -> None:
    d, root = project(tmp_path), tmp_path / "root"
    bake(d, root)
    recorded = last_run(str(root), ["default"])
    (d / "ctx/a").write_text("A\n")
    lines = planned(resolve(Request(cwd=str(d), env={})), str(root))
    assert lines[0] == "0 steps from the cache, 3 to run"
    assert lines[1:] == [
        "run [internal] load build context: context files changed: modified a (1 path)",
        "run [1/2] COPY a /a: context files changed: modified a (1 path)",
        "run [2/2] COPY b /b: parent step ran: [1/2] COPY a /a (ctx/Dockerfile:2): context files changed: modified a (1 path)"]
    assert last_run(str(root), ["default"]) == recorded  # nothing ran, nothing was recorded


def test_damaged_records_are_skipped(tmp_path: Path) -> None:
    folder = Path(StateRoot(str(tmp_path)).explain)
    assert load(str(tmp_path)) == {}  # no folder yet
    folder.mkdir(parents=True)
    (folder / "a.json").write_text("{not json")
    (folder / "b.json").write_text(json.dumps({"target": "x"}))  # no record
    assert load(str(tmp_path)) == {}
    assert last_run(str(tmp_path), ["x"]) == ["x: no build recorded on this root"]


def test_an_explanation_that_cannot_be_made_never_fails_the_build(tmp_path: Path) -> None:
    keys: KeyPlan[Vertex] = KeyPlan(digest)
    out: list[Event] = []
    why = Explanations(str(tmp_path), keys, str(tmp_path), StatCache(str(tmp_path / "stat.json")), out.append, True)
    v = local(".").vertex
    assert v is not None
    why.explainer.vertices[keys.identity(v)] = v

    def broken(ident: str, labels: Sequence[str]) -> Reason:
        raise OSError("context vanished")

    why.explainer.why = broken  # type: ignore[method-assign]  # what reading a vanished context raises
    step = Step(keys.identity(v), "COPY . /", ("app",))
    why(Started(step, 1.0))
    assert [type(e).__name__ for e in out] == ["Started", "Noted"]
    assert isinstance(out[1], Noted) and out[1].text == "why COPY . / ran: cannot tell (context vanished)"
    assert why.reasons == {"app": ["why COPY . / ran: cannot tell (context vanished)"]}
    Path(why.dir).parent.mkdir(parents=True, exist_ok=True)
    Path(why.dir).write_text("a file where the folder goes")
    why.save([("app", v), ("none", None)], set())  # cannot write: a convenience, never an error


def test_context_files_name_links_and_directories_as_the_checksum_reads_them(tmp_path: Path) -> None:
    (tmp_path / "d").mkdir()
    (tmp_path / "d/f").write_text("x")
    os.symlink("d/f", tmp_path / "link")
    got = context_files(str(tmp_path), [], StatCache(str(tmp_path / ".stat.json")))
    assert got["file:link"] == "-> d/f"
    assert got["file:d"].split(" ") == [f"{0o755 & ~_umask():o}", "4"]
    assert got["file:d/f"].startswith(f"{0o666 & ~_umask():o} ")


def test_context_files_are_the_entries_the_checksum_read_without_a_second_walk(tmp_path: Path) -> None:
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "a").write_text("x")
    (ctx / "skipped").write_text("y")
    cache = StatCache()
    checksum(str(ctx), ["skipped"], cache=cache)
    (ctx / "later").write_text("z")  # after the checksum: not what the key was made of
    assert sorted(context_files(str(ctx), ["skipped"], cache)) == ["file:a"]
    assert sorted(context_files(str(ctx), [], cache)) == ["file:a", "file:later", "file:skipped"]  # never walked: now


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@pytest.mark.parametrize(("reason", "words"), [
    (Reason("no-cache", "x"), "no-cache (--no-cache or no-cache-filter): runs regardless of the cache"),
    (Reason("gone", "x"), "same inputs as last time, but the cached result is gone (pruned, or never stored)"),
    (Reason("salt", "x", old="git:1", new="git:2"), "what it reads changed (context files or source)"),
    (Reason("definition", "x", change=Change(added=("arg:N",), removed=("arg:O",))), "build arg N added; build arg O removed"),
    (Reason("definition", "x"), "its definition changed, not its text (a build arg, the platform, a flag or an "
                                "earlier instruction)"),
    (Reason("new", "x", location="Dockerfile:4"), "a new step at Dockerfile:4 (no counterpart in the last build)"),
    (Reason("new", "x"), "a new step (no counterpart in the last build)"),
    (Reason("unknown", "x"), "its inputs changed"),
    (Reason("instruction", "x", via_parent=True, name="RUN a"), "parent step ran: RUN a: instruction changed at ?:  → "),
])
def test_every_cause_in_words(reason: Reason, words: str) -> None:
    assert render(reason) == words
