"""What a cache key reads from this machine: an image's recorded resolution (no request), the
registry only when nothing is recorded or ``--pull`` asks; the context files a COPY can select
(up to its first wildcard); nothing for sources only the network can answer."""

from __future__ import annotations

from pathlib import Path

import anyio
import pytest

from bake.graph.ops import Copy, FileOp, SourceOp, Vertex
from bake.registry.reference import parse_reference
from bake.worker.backend import GraphBackend
from bake.worker.errors import SourceError
from bake.worker.keys import Salts
from bake.worker.state import WorkerState
from tests.unit.worker.fakes import worker_state
from tests.unit.worker.registryfake import FakeRegistry

ALPINE = Vertex(SourceOp("docker-image://docker.io/library/alpine:3"), name="alpine")
CONTEXT = Vertex(SourceOp("local://ctx"), name="context")


def salts(state: WorkerState, pull: bool = False) -> Salts:
    return Salts(state.images, state.statcache, state.cwd, state.host_platform, pull)


def test_an_image_is_salted_by_its_recorded_resolution_without_a_request(tmp_path: Path) -> None:
    registry = FakeRegistry()
    manifest = registry.image(str(parse_reference("alpine:3")), {"f": "x"})
    state = worker_state(tmp_path, client=registry.client)
    assert salts(state).salt(ALPINE) is None  # nothing recorded: only the registry can tell
    backend = GraphBackend(state, salts(state))
    assert anyio.run(backend.salt, ALPINE).text == manifest.digest  # asked once, and recorded
    asked = registry.calls["resolve"]
    known = salts(state).salt(ALPINE)
    assert known is not None and known.text == manifest.digest
    assert anyio.run(backend.salt, ALPINE).text == manifest.digest and registry.calls["resolve"] == asked
    assert salts(state, pull=True).salt(ALPINE) is None  # --pull: the registry again
    assert anyio.run(GraphBackend(state, salts(state, pull=True)).salt, ALPINE).text == manifest.digest


def test_network_sources_have_no_local_salt(tmp_path: Path) -> None:
    state = worker_state(tmp_path)
    for ident in ("git://github.com/o/r.git#main", "https://example.com/f.tar.gz"):
        assert salts(state).salt(Vertex(SourceOp(ident))) is None


def test_a_copy_reads_the_context_up_to_its_first_wildcard(tmp_path: Path) -> None:
    (tmp_path / "ctx" / "src").mkdir(parents=True)
    (tmp_path / "ctx" / "src" / "a.c").write_text("a")
    (tmp_path / "ctx" / "docs").mkdir()
    (tmp_path / "ctx" / "docs" / "guide").write_text("g")
    state = worker_state(tmp_path / "root", cwd=tmp_path)
    copy_c = Vertex(FileOp(None, (Copy(0, "src/*.c", "/src/"),)), (CONTEXT,))
    before = salts(state).salt(copy_c)
    (tmp_path / "ctx" / "docs" / "guide").write_text("changed")
    assert salts(state).salt(copy_c) == before  # docs/ cannot match src/*.c
    (tmp_path / "ctx" / "src" / "b.c").write_text("b")
    assert salts(state).salt(copy_c) != before


def test_a_missing_context_directory_is_named(tmp_path: Path) -> None:
    state = worker_state(tmp_path / "root", cwd=tmp_path)
    with pytest.raises(SourceError, match="context 'ctx': no such directory"):
        salts(state).salt(CONTEXT)
