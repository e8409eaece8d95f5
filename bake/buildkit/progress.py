"""BuildKit's Status updates → bake's progress events.

The daemon repeats a vertex in many updates as it changes (started, then completed or cached);
each transition becomes one event. A vertex bake sent is reported under bake's own digest and
name (so ``--progress=plain`` reads as on the embedded worker); the daemon's own vertices
(``exporting to …``) keep its digest and name.
"""

from __future__ import annotations

from collections.abc import Mapping

from google.protobuf.timestamp_pb2 import Timestamp

from bake.buildkit.proto import control_pb2 as api
from bake.graph.digest import digest
from bake.graph.ops import Vertex
from bake.progress.events import Cached, Completed, Logged, Started, Step


class StatusMapper:
    """Feed it every ``StatusResponse`` of one solve; it returns the events they mean, in order."""

    def __init__(self, label: str, vertices: Mapping[str, Vertex]) -> None:
        self.label = label
        self.vertices = vertices
        self.steps: dict[str, Step] = {}
        self.started: set[str] = set()
        self.done: set[str] = set()
        self.executed = 0
        self.cached = 0

    def step(self, llb_digest: str, name: str) -> Step:
        s = self.steps.get(llb_digest)
        if s is None:
            v = self.vertices.get(llb_digest)
            if v is not None:
                s = Step(digest(v), v.name or name, (self.label,), v.location)
            else:
                s = Step(llb_digest, name, (self.label,))
            self.steps[llb_digest] = s
        return s

    def events(self, update: api.StatusResponse) -> list[Started | Cached | Logged | Completed]:
        out: list[Started | Cached | Logged | Completed] = []
        for v in update.vertexes:
            if v.digest in self.done:
                continue
            s = self.step(v.digest, v.name)
            if v.cached and v.HasField("completed"):
                self.done.add(v.digest)
                self.cached += v.digest in self.vertices
                out.append(Cached(s, _seconds(v.completed)))
                continue
            if v.HasField("started") and v.digest not in self.started:
                self.started.add(v.digest)
                out.append(Started(s, _seconds(v.started)))
            if v.HasField("completed") and v.digest in self.started:
                self.done.add(v.digest)
                self.executed += v.digest in self.vertices
                out.append(Completed(s, _seconds(v.completed), v.error))
        for log in update.logs:
            out.append(Logged(self.step(log.vertex, ""), log.msg, _seconds(log.timestamp)))
        return out


def _seconds(ts: Timestamp) -> float:
    return float(ts.seconds) + ts.nanos / 1e9
