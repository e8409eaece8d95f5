"""BuildKit's Status updates → bake's progress events and errors (``bake.buildkit.progress``)."""

from __future__ import annotations

from google.protobuf.timestamp_pb2 import Timestamp

from bake.buildkit.progress import StatusMapper
from bake.buildkit.proto import control_pb2 as api
from bake.graph.digest import digest
from bake.graph.ops import ExecOp, Vertex
from bake.progress.events import Cached, Completed, Logged, Started

RUN = Vertex(ExecOp(("sh", "-c", "exit 3"), (), "/", "", ()), (), None, "[stage-0 1/1] RUN exit 3", location="Dockerfile:2")
OTHER = Vertex(ExecOp(("true",), (), "/", "", ()), (), None, "[stage-0 2/2] RUN true", location="Dockerfile:3")


def _at(seconds: int) -> Timestamp:
    return Timestamp(seconds=seconds)


def test_a_vertex_the_daemon_renamed_by_digest_is_found_by_its_name_and_its_failure_is_a_step_error() -> None:
    # the daemon pinned the base image, so its digests are not the ones bake sent
    m = StatusMapper("app", {"sha256:sent-run": RUN, "sha256:sent-other": OTHER})
    events = m.events(api.StatusResponse(
        vertexes=[api.Vertex(digest="sha256:solved-run", name=RUN.name, started=_at(1))],
        logs=[api.VertexLog(vertex="sha256:solved-run", msg=b"line 1\nline 2\n", timestamp=_at(2))]))
    events += m.events(api.StatusResponse(vertexes=[
        api.Vertex(digest="sha256:solved-run", name=RUN.name, started=_at(1), completed=_at(3),
                   error='process "/bin/sh -c exit 3" did not complete successfully: exit code: 3'),
        api.Vertex(digest="sha256:solved-other", name=OTHER.name, cached=True, completed=_at(3))]))
    assert [type(e) for e in events] == [Started, Logged, Completed, Cached]
    started = events[0]
    assert isinstance(started, Started)
    assert (started.step.digest, started.step.location) == (digest(RUN), "Dockerfile:2")  # bake's own
    assert (m.executed, m.cached) == (1, 1)
    err = m.error("the solve's own message")
    assert (err.step, err.targets, err.output, err.exit_code, err.source) == (
        RUN.name, ("app",), ("line 1", "line 2"), 3, "Dockerfile:2")


def test_the_daemons_own_vertices_keep_its_digest_and_name_and_a_failure_without_a_step() -> None:
    m = StatusMapper("app", {"sha256:sent-run": RUN})
    (started,) = m.events(api.StatusResponse(vertexes=[
        api.Vertex(digest="sha256:export", name="exporting to image", started=_at(1))]))
    assert isinstance(started, Started)
    assert (started.step.digest, started.step.name) == ("sha256:export", "exporting to image")
    assert (m.executed, m.cached) == (0, 0)
    err = m.error("failed to push")
    assert (err.step, err.reason, err.output) == ("app", "failed to push", ())
