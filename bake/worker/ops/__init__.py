"""The worker's ops, one module each, and the one place an op is matched to what runs it.

Every op runs as an ``OpFunc``: given the build's ``WorkerState``, the vertex and its inputs'
results (committed snapshot ids), it streams output to ``log`` and returns the committed snapshot
id of its own result. ``resolve`` picks the function by the op's type (BuildKit's ``ResolveOpFunc``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING

from bake.graph.ops import ExecOp, FileOp, MergeOp, Op, SourceOp, Vertex
from bake.solver.protocols import Log

if TYPE_CHECKING:
    from bake.worker.state import WorkerState

OpFunc = Callable[["WorkerState", Vertex, Sequence[str], Log], Awaitable[str]]


def resolve(op: Op) -> OpFunc:
    """The function that runs ``op``."""
    from bake.worker.ops import exec, file, merge, source

    table: dict[type, OpFunc] = {SourceOp: source.run, ExecOp: exec.run, FileOp: file.run, MergeOp: merge.run}
    try:
        return table[type(op)]
    except KeyError:
        raise TypeError(f"no worker op runs {type(op).__name__}") from None
