"""One pass, one event loop: the bake files are read and planned once per command, and a build
runs at most one event loop with at most one registry client, exports included — none at all when
every target is cached and no output needs a registry.

The builds here need no container runtime: ``FROM scratch`` and ``COPY`` are file operations of
the embedded worker. Registries are a counting stand-in client; event loops are counted at
``anyio.run``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
import pytest

import bake
from bake.app import Request, resolve
from bake.app.build import BuildOptions, build
from bake.app.outputs import TargetResult
from bake.content import oci
from bake.errors import UsageError
from bake.hcl.bakefile.loader import Project
from bake.progress.events import Event, Started
from bake.registry.config import RegistryConfig
from bake.registry.reference import Reference

pytestmark = pytest.mark.root  # the worker mounts its snapshots


class PushClient:
    """What pushing asks of a registry client, answered from memory; counts every call."""

    made = 0

    def __init__(self) -> None:
        PushClient.made += 1
        self.config = RegistryConfig()
        self.blobs: set[str] = set()
        self.tags: dict[str, str] = {}  # "repo:tag" → digest
        self.closed = False

    async def pushed_digest(self, ref: Reference) -> str | None:
        return self.tags.get(f"{ref.registry}/{ref.repository}:{ref.tag}")

    async def push_blob(self, ref: Reference, digest: str, data: bytes) -> bool:
        new = digest not in self.blobs
        self.blobs.add(digest)
        return new

    async def push_manifest(self, ref: Reference, doc: oci.Document, tag: str | None = None) -> str:
        self.tags[f"{ref.registry}/{ref.repository}:{tag}"] = doc.digest
        return doc.digest

    async def aclose(self) -> None:
        self.closed = True


@pytest.fixture
def loops(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The name of every coroutine run in an event loop of its own."""
    ran: list[str] = []
    real = anyio.run

    def counting(func: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        ran.append(func.__name__)
        return real(func, *args, **kwargs)

    monkeypatch.setattr(anyio, "run", counting)
    return ran


@pytest.fixture
def clients(monkeypatch: pytest.MonkeyPatch) -> list[PushClient]:
    made: list[PushClient] = []

    def make() -> PushClient:
        made.append(PushClient())
        return made[-1]

    monkeypatch.setattr("bake.app.build.registry_client", make)
    return made


@pytest.fixture
def plans(monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
    """The targets of every ``Project.plan`` call."""
    asked: list[list[str]] = []
    real = Project.plan

    def counting(self: Project, targets: list[str], disable_policy: bool = False) -> Any:
        asked.append(targets)
        return real(self, targets, disable_policy)

    monkeypatch.setattr(Project, "plan", counting)
    return asked


def project(tmp_path: Path, outputs: str = "", extra: str = "") -> Path:
    d = tmp_path / "project"
    d.mkdir()
    (d / "Dockerfile").write_text("FROM scratch\nCOPY a /a\n")
    (d / "a").write_text("hello\n")
    (d / "docker-bake.hcl").write_text(f'target "default" {{\n  output = [{outputs}]\n{extra}}}\n')
    return d


def run(d: Path, root: Path, events: list[Event] | None = None) -> list[TargetResult]:
    sink = events.append if events is not None else (lambda e: None)
    return build(resolve(Request(cwd=str(d), env={})), BuildOptions(root=str(root)), sink)


def test_a_warm_no_op_build_runs_no_event_loop(tmp_path: Path, loops: list[str]) -> None:
    d = project(tmp_path, '"type=local,dest=out"')
    (first,) = run(d, tmp_path / "root")
    assert (first.executed, (d / "out/a").read_text()) == (2, "hello\n")  # the context and the COPY
    assert loops == ["_run"]
    (d / "out/a").unlink()
    events: list[Event] = []
    (again,) = run(d, tmp_path / "root", events)
    assert (again.executed, again.cached, again.outputs) == (0, 1, ("type=local,dest=out",))
    assert (d / "out/a").read_text() == "hello\n"  # exported again from the cache
    assert loops == ["_run"]  # none for the second build
    assert [e.step.name for e in events if isinstance(e, Started)] == ["exporting to directory out"]


def test_pushes_of_a_build_use_its_one_loop_and_one_client(tmp_path: Path, loops: list[str],
                                                           clients: list[PushClient]) -> None:
    d = project(tmp_path, '"type=registry,name=registry.test/app:1"',
                '  cache-to = ["type=registry,ref=registry.test/cache:1"]\n')
    (first,) = run(d, tmp_path / "root")
    assert first.outputs == ("pushing registry.test/app:1",)
    assert loops == ["_run"] and len(clients) == 1 and clients[0].closed
    # the image's and its provenance's manifests are pushed by digest first (buildx adds provenance by default)
    assert {t for t in clients[0].tags if ":sha256:" not in t} == {"registry.test/app:1", "registry.test/cache:1"}
    assert first.metadata is not None and clients[0].tags["registry.test/app:1"] == first.metadata["containerimage.digest"]
    (again,) = run(d, tmp_path / "root")  # all cached, but pushing needs the registry: one loop, one client
    assert (again.executed, loops, len(clients)) == (0, ["_run", "_run"], 2)
    assert {t for t in clients[1].tags if ":sha256:" not in t} == {"registry.test/app:1", "registry.test/cache:1"}


def test_a_bad_output_is_refused_before_anything_is_made(tmp_path: Path, loops: list[str]) -> None:
    d = project(tmp_path, '"type=oci,dest=x.tar,compression-level=42"')
    with pytest.raises(UsageError, match=r"compression-level=42 .expected a whole number from 0 to 9 for gzip"):
        run(d, tmp_path / "root")
    assert not (tmp_path / "root").exists() and loops == []


def test_a_network_mode_buildx_does_not_pass_on_is_refused_before_anything_is_made(tmp_path: Path,
                                                                                    loops: list[str]) -> None:
    d = project(tmp_path, '"type=local,dest=out"', '  network = "weird"\n')
    with pytest.raises(UsageError, match='target default: network mode "weird" not supported'):
        run(d, tmp_path / "root")
    assert not (tmp_path / "root").exists() and loops == []


def test_the_cli_reads_and_plans_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                      plans: list[list[str]]) -> None:
    from bake.cli.build import BuildArgs, run_build

    d = project(tmp_path, '"type=local,dest=out"')
    monkeypatch.chdir(d)
    assert run_build(BuildArgs(progress="quiet", root=str(tmp_path / "root"))) == 0
    assert plans == [[]] and (d / "out/a").is_file()
    assert run_build(BuildArgs(progress="quiet", plan="json")) == 0
    assert run_build(BuildArgs(progress="quiet", call="targets")) == 0
    assert plans == [[], [], []]


def test_the_python_api_reads_and_plans_once(tmp_path: Path, plans: list[list[str]]) -> None:
    d = project(tmp_path, '"type=local,dest=out"')
    (result,) = bake.build(cwd=str(d), root=str(tmp_path / "root"), env={})
    assert result.outputs == ("type=local,dest=out",) and plans == [[]]
    graph = bake.analyze(cwd=str(d), env={})
    assert [r.target for r in graph.roots] == ["default"] and plans == [[], []]


def test_metadata_file_lists_each_target(tmp_path: Path) -> None:
    d = project(tmp_path, '"type=oci,dest=img.tar"')
    run(d, tmp_path / "root")
    meta = tmp_path / "meta" / "m.json"
    build(resolve(Request(cwd=str(d), env={})), BuildOptions(root=str(tmp_path / "root"), metadata_file=str(meta)))
    doc = json.loads(meta.read_text())
    assert doc["default"]["buildx.build.ref"] == "bake/default/2" and doc["default"]["containerimage.digest"]
