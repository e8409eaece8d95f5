"""The worker through its one entry, with a fake executor: ops resolved to what runs them, a graph
solved through the backend, and a rebuild recognised as cached from the same key plan."""

from __future__ import annotations

from pathlib import Path

import anyio
import pytest

from bake.graph.digest import digest
from bake.graph.ops import Copy, ExecOp, FileOp, MergeOp, Mkdir, Mkfile, Mount, SourceOp, Vertex
from bake.progress.events import Event, Started
from bake.solver.cached import all_cached
from bake.solver.keyplan import KeyPlan
from bake.solver.scheduler import Solver
from bake.worker.backend import GraphBackend
from bake.worker.keys import Salts
from bake.worker.ops import exec, file, merge, resolve, source
from bake.worker.state import WorkerState
from bake.worker.worker import Worker
from tests.unit.worker.fakes import CopySnapshots, FakeExecutor, worker_state

CONTEXT = Vertex(SourceOp("local://ctx"), name="context")
BASE = Vertex(FileOp(None, (Mkdir("/bin"), Mkfile("/bin/sh", b"shell"))), name="base")
BUILD = Vertex(ExecOp(("make",), (), "/", "", (Mount("/", input=0, output=True),
                                              Mount("/src", input=1, readonly=True))),
               (BASE, CONTEXT), name="RUN make")
DOCS = Vertex(FileOp(None, (Copy(0, "/README", "/docs/README"),)), (CONTEXT,), name="COPY README")
IMAGE = Vertex(MergeOp(), (BUILD, DOCS), name="merge")


def test_each_op_is_resolved_to_its_own_module() -> None:
    assert resolve(CONTEXT.op) is source.run
    assert resolve(BASE.op) is file.run
    assert resolve(BUILD.op) is exec.run
    assert resolve(IMAGE.op) is merge.run


def test_the_backend_names_vertices_by_digest_and_fetches_apart_from_execs(tmp_path: Path) -> None:
    state = worker_state(tmp_path)
    backend = GraphBackend(state, _salts(state))
    assert backend.identity(BUILD) == digest(BUILD)
    assert backend.resource(Vertex(SourceOp("docker-image://docker.io/library/busybox:latest"))) == "fetch"
    assert backend.resource(CONTEXT) == "exec" and backend.resource(BUILD) == "exec"
    assert not backend.usable("12") and not backend.usable("not-a-snapshot")


def test_a_cache_key_reads_only_the_context_files_an_op_selects(tmp_path: Path) -> None:
    _context(tmp_path)
    state = worker_state(tmp_path / "root", cwd=tmp_path)
    backend = GraphBackend(state, _salts(state))
    before = anyio.run(backend.salt, DOCS)
    (tmp_path / "ctx" / "main.c").write_text("changed")
    assert anyio.run(backend.salt, DOCS) == before  # COPY README does not read main.c
    (tmp_path / "ctx" / "README").write_text("new words")
    assert anyio.run(backend.salt, DOCS) != before
    assert before.replaces == frozenset({0})


def test_a_graph_solves_through_the_worker_and_a_rebuild_is_cached_without_running(tmp_path: Path) -> None:
    _context(tmp_path)
    root = tmp_path / "root"
    fake = FakeExecutor(writes={"/out/app": b"binary"})
    worker = Worker(str(root), CopySnapshots(str(root)))

    async def build(events: list[Event]) -> str | None:
        async with worker.session(salts=worker.salts(str(tmp_path), "linux/amd64", False), env={}, secrets=(),
                                  ssh=(), allow=(), runtime=None, client=_no_client,
                                  executor=lambda: fake) as session:
            solver = Solver(session.backend, worker.cache, events.append, locks=worker.locks(),
                            keys=KeyPlan(digest))
            (outcome,) = await solver.solve([("app", IMAGE)])
        assert outcome.error is None
        return outcome.result

    events: list[Event] = []
    with worker.claimed():
        result = anyio.run(build, events)
    assert result is not None and worker.usable(result)
    snaps = worker.snapshots
    assert isinstance(snaps, CopySnapshots)
    assert snaps.tree(result) == {"/bin/sh": b"shell", "/out/app": b"binary", "/docs/README": b"read me"}
    (call,) = fake.calls
    assert call.files == {"/bin/sh": b"shell", "/src/README": b"read me", "/src/main.c": b"int main;"}
    assert fake.closed
    assert {e.step.name for e in events if isinstance(e, Started)} == {"context", "base", "RUN make",
                                                                       "COPY README", "merge"}

    again: list[Event] = []
    with worker.claimed():
        outcomes = all_cached([("app", IMAGE)], KeyPlan(digest), worker.salts(str(tmp_path), "linux/amd64", False).salt,
                              worker.cache, worker.usable, again.append)
    assert outcomes is not None and [o.result for o in outcomes] == [result]
    assert len(fake.calls) == 1

    (tmp_path / "ctx" / "main.c").write_text("int main() {}")
    with worker.claimed():
        assert all_cached([("app", IMAGE)], KeyPlan(digest), worker.salts(str(tmp_path), "linux/amd64", False).salt,
                          worker.cache, worker.usable, again.append) is None


def test_a_session_needs_the_builds_scratch_directory(tmp_path: Path) -> None:
    worker = Worker(str(tmp_path), CopySnapshots(str(tmp_path)))

    async def open_session() -> None:
        async with worker.session(salts=worker.salts(str(tmp_path), "linux/amd64", False), env={}, secrets=(),
                                  ssh=(), allow=(), runtime=None, client=_no_client, executor=FakeExecutor):
            pass

    with pytest.raises(AssertionError, match="scratch"):
        anyio.run(open_session)


def _context(tmp_path: Path) -> None:
    (tmp_path / "ctx").mkdir()
    (tmp_path / "ctx" / "README").write_text("read me")
    (tmp_path / "ctx" / "main.c").write_text("int main;")


def _salts(state: WorkerState) -> Salts:
    return Salts(state.images, state.statcache, state.cwd, state.host_platform, state.pull)


def _no_client() -> object:
    raise AssertionError("no registry in unit tests")
