"""The solver's backend for graph vertices: identity is the graph digest, results are committed
snapshot ids, and each op kind runs here (sources in ``sources.py``, execs in ``execop.py``,
file and merge ops below).

What a cache key reads beyond the graph: the digests images resolve to, and for ops that read a
local context, the checksum of just the paths they select — so editing a file that no COPY
selects is not a miss.
"""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Sequence

import anyio

from bake.graph.digest import digest
from bake.graph.ops import Copy, ExecOp, FileOp, MergeOp, SourceOp, Vertex
from bake.solver.protocols import Log, Salt
from bake.worker import keys, sources
from bake.worker.differ import write_layer
from bake.worker.execop import rmdir_if_empty, run_exec
from bake.worker.fileops import apply_actions
from bake.worker.state import WorkerState
from bake.worker.unpack import apply_layer


class GraphBackend:
    def __init__(self, state: WorkerState) -> None:
        self.state = state
        self.salts = keys.Salts(state.images, state.statcache, state.cwd, state.host_platform, state.pull)

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
            return known if known is not None else Salt(await sources.salt(self.state, v.op, v.platform))
        salt = await anyio.to_thread.run_sync(self.salts.salt, v)  # hashing files: off the event loop
        assert salt is not None
        return salt

    async def execute(self, v: Vertex, inputs: Sequence[str], log: Log) -> str:
        op = v.op
        if isinstance(op, SourceOp):
            return await sources.materialize(self.state, op, v.platform, log)
        if isinstance(op, ExecOp):
            return await run_exec(self.state, v.name, op, v.platform, inputs, log)
        if isinstance(op, FileOp):
            return await anyio.to_thread.run_sync(self._file, op, inputs)
        assert isinstance(op, MergeOp)
        return await anyio.to_thread.run_sync(self._merge, inputs)

    def _file(self, op: FileOp, inputs: Sequence[str]) -> str:
        snaps = self.state.snapshots
        sid = snaps.prepare(inputs[op.base] if op.base is not None else None)
        try:
            with contextlib.ExitStack() as stack:
                root = self._mounted(stack, sid, readonly=False)
                wanted = {a.source for a in op.actions if isinstance(a, Copy)}
                views = [root if n == op.base else self._mounted(stack, r, readonly=True) if n in wanted else ""
                         for n, r in enumerate(inputs)]
                apply_actions(root, op.actions, views)
        except BaseException:
            with contextlib.suppress(Exception):
                snaps.remove(sid)
            raise
        return snaps.commit(sid)

    def _merge(self, inputs: Sequence[str]) -> str:
        """The first input with every later input's layers applied on top (later wins, deletions too)."""
        snaps = self.state.snapshots
        sid = snaps.prepare(inputs[0])
        try:
            with contextlib.ExitStack() as stack:
                root = self._mounted(stack, sid, readonly=False)
                for r in inputs[1:]:
                    for layer in reversed(snaps.chain(r)):
                        with tempfile.TemporaryFile(dir=self.state.scratch) as tar:
                            write_layer(snaps.upper(layer), tar)
                            tar.seek(0)
                            apply_layer(tar, root)
        except BaseException:
            with contextlib.suppress(Exception):
                snaps.remove(sid)
            raise
        return snaps.commit(sid)

    def _mounted(self, stack: contextlib.ExitStack, sid: str, readonly: bool) -> str:
        path = tempfile.mkdtemp(prefix="mnt-", dir=self.state.scratch)
        stack.callback(rmdir_if_empty, path)
        self.state.snapshots.mount(sid, path, readonly=readonly)
        stack.callback(self.state.snapshots.unmount, path)
        return path
