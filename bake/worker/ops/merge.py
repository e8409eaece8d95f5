"""Merge ops: the first input with every later input's layers applied on top (later wins,
deletions too), as ``COPY --link`` and multi-stage merges produce."""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Sequence

import anyio

from bake.graph.ops import Vertex
from bake.solver.protocols import Log
from bake.worker.differ import write_layer
from bake.worker.ops.mounting import mounted
from bake.worker.state import WorkerState
from bake.worker.unpack import apply_layer


async def run(state: WorkerState, v: Vertex, inputs: Sequence[str], log: Log) -> str:
    return await anyio.to_thread.run_sync(merge, state, inputs)


def merge(state: WorkerState, inputs: Sequence[str]) -> str:
    snaps = state.snapshots
    sid = snaps.prepare(inputs[0])
    try:
        with contextlib.ExitStack() as stack:
            root = mounted(state, stack, sid, readonly=False)
            for r in inputs[1:]:
                for layer in reversed(snaps.chain(r)):
                    with tempfile.TemporaryFile(dir=state.scratch) as tar:
                        write_layer(snaps.upper(layer), tar)
                        tar.seek(0)
                        apply_layer(tar, root)
        if len(inputs) == 2 and snaps.parent(inputs[1]) is None:
            snaps.set_layer_of(sid, inputs[1])  # its layer is the linked copy alone, as BuildKit's
    except BaseException:
        with contextlib.suppress(Exception):
            snaps.remove(sid)
        raise
    return snaps.commit(sid)
