"""File ops (COPY, ADD of local files, mkdir, mkfile, rm…): the actions applied to a writable
snapshot of the base input, reading other inputs through read-only mounts. What each action does,
and how paths resolve inside the roots, is ``fileops.py``'s."""

from __future__ import annotations

import contextlib
from collections.abc import Sequence

import anyio

from bake.graph.ops import Copy, FileOp, Vertex
from bake.solver.protocols import Log
from bake.worker.fileops import apply_actions
from bake.worker.ops.mounting import mounted
from bake.worker.state import WorkerState


async def run(state: WorkerState, v: Vertex, inputs: Sequence[str], log: Log) -> str:
    assert isinstance(v.op, FileOp)
    return await anyio.to_thread.run_sync(apply, state, v.op, inputs)


def apply(state: WorkerState, op: FileOp, inputs: Sequence[str]) -> str:
    snaps = state.snapshots
    sid = snaps.prepare(inputs[op.base] if op.base is not None else None)
    try:
        with contextlib.ExitStack() as stack:
            root = mounted(state, stack, sid, readonly=False)
            wanted = {a.source for a in op.actions if isinstance(a, Copy)}
            views = [root if n == op.base else mounted(state, stack, r, readonly=True) if n in wanted else ""
                     for n, r in enumerate(inputs)]
            apply_actions(root, op.actions, views)
    except BaseException:
        with contextlib.suppress(Exception):
            snaps.remove(sid)
        raise
    return snaps.commit(sid)
