"""The solver's backend for graph vertices: identity is the graph digest, results are committed
snapshot ids, and each op runs through the function ``ops.resolve`` picks for it.

What a cache key reads beyond the graph: the digests images resolve to, and for ops that read a
local context, the checksum of just the paths they select — so editing a file that no COPY
selects is not a miss. Salts known without the network come from ``keys.Salts`` (shared with the
all-cached check); the rest the source itself answers (``ops/source.py``).
"""

from __future__ import annotations

from collections.abc import Sequence

import anyio

from bake.graph.digest import digest
from bake.graph.ops import SourceOp, Vertex
from bake.solver.protocols import Log, Salt
from bake.worker import keys
from bake.worker.ops import resolve, source
from bake.worker.state import WorkerState


class GraphBackend:
    def __init__(self, state: WorkerState, salts: keys.Salts) -> None:
        self.state = state
        self.salts = salts

    def identity(self, v: Vertex) -> str:
        return digest(v)

    def resource(self, v: Vertex) -> str:
        if isinstance(v.op, SourceOp) and keys.kind(v.op) in ("image", "git", "url"):
            return "fetch"
        return "exec"

    def usable(self, result: str) -> bool:
        return result.isdigit() and self.state.snapshots.committed(result)

    async def salt(self, v: Vertex) -> Salt:
        if isinstance(v.op, SourceOp) and keys.kind(v.op) != "local":
            known = self.salts.salt(v)  # a recorded image resolution needs no request
            return known if known is not None else Salt(await source.salt(self.state, v.op, v.platform))
        salt = await anyio.to_thread.run_sync(self.salts.salt, v)  # hashing files: off the event loop
        assert salt is not None
        return salt

    async def execute(self, v: Vertex, inputs: Sequence[str], log: Log) -> str:
        return await resolve(v.op)(self.state, v, inputs, log)
