"""BuildKit's Status updates → bake's progress events.

The daemon repeats a vertex in many updates as it changes (started, then completed or cached);
each transition becomes one event. A vertex bake sent is reported under bake's own digest and
name (so ``--progress=plain`` reads as on the embedded worker); the daemon's own vertices
(``exporting to …``) keep its digest and name.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Mapping

from google.protobuf.timestamp_pb2 import Timestamp

from bake.buildkit.proto import control_pb2 as api
from bake.errors import StepError
from bake.graph.digest import digest
from bake.graph.ops import Vertex
from bake.progress.events import Cached, Completed, Logged, Started, Step

_KEPT = 10  # lines of a failed step's output kept for its error, as the embedded worker keeps


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
        self.by_name: dict[str, Vertex] = {}
        for v in vertices.values():
            if v.name:
                self.by_name.setdefault(v.name, v)
        self.known: set[str] = set()  # the daemon's digests of bake's own vertices
        self.failed: tuple[str, str] | None = None  # (LLB digest, error) of the first step that failed
        self.logs: dict[str, deque[str]] = {}  # the last lines each step printed

    def step(self, llb_digest: str, name: str) -> Step:
        s = self.steps.get(llb_digest)
        if s is None:
            # the daemon reports a vertex under the digest of the op as it solved it, which differs
            # from ours once it pinned an image reference below it: then the name tells (bake's name
            # travels as llb.customname)
            v = self.vertices.get(llb_digest) or self.by_name.get(name)
            if v is not None:
                self.known.add(llb_digest)
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
                self.cached += v.digest in self.known
                out.append(Cached(s, _seconds(v.completed)))
                continue
            if v.HasField("started") and v.digest not in self.started:
                self.started.add(v.digest)
                out.append(Started(s, _seconds(v.started)))
            if v.HasField("completed") and v.digest in self.started:
                if v.error and self.failed is None and not v.error.endswith("context canceled"):
                    self.failed = (v.digest, v.error)
                self.done.add(v.digest)
                self.executed += v.digest in self.known
                out.append(Completed(s, _seconds(v.completed), v.error))
        for log in update.logs:
            lines = self.logs.setdefault(log.vertex, deque(maxlen=_KEPT))
            lines.extend(line for line in log.msg.decode(errors="replace").splitlines() if line)
            out.append(Logged(self.step(log.vertex, ""), log.msg, _seconds(log.timestamp)))
        return out

    def error(self, reason: str) -> StepError:
        """The solve's failure as the embedded worker reports one: the failing step's name, its
        Dockerfile location, its last lines of output and the process's exit code."""
        if self.failed is None:
            return StepError(self.label, reason, (self.label,))
        llb_digest, message = self.failed
        s = self.steps[llb_digest]
        code = re.search(r"exit code: (\d+)", message)
        return StepError(s.name, message, (self.label,), tuple(self.logs.get(llb_digest, ())),
                         int(code.group(1)) if code else None, s.location or "")


def _seconds(ts: Timestamp) -> float:
    return float(ts.seconds) + ts.nanos / 1e9
