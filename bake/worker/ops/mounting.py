"""Temporary directories and snapshot mounts an op holds while it runs, all under the build's
scratch directory (where recovery looks after a crash) and all undone by the op's exit stack."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile

from bake.worker.state import WorkerState


def tempdir(state: WorkerState, stack: contextlib.ExitStack, prefix: str) -> str:
    """A directory removed at the end; only if empty, so a mount that failed to come off is never
    emptied through (that would delete a snapshot's files)."""
    path = tempfile.mkdtemp(prefix=prefix, dir=state.scratch)
    if prefix == "empty-":  # never a mount point on the host: what the process wrote goes too
        stack.callback(shutil.rmtree, path, True)
    else:
        stack.callback(rmdir_if_empty, path)
    return path


def mounted(state: WorkerState, stack: contextlib.ExitStack, sid: str, readonly: bool) -> str:
    """Snapshot ``sid`` mounted on a new directory until the stack closes."""
    path = tempdir(state, stack, "mnt-")
    state.snapshots.mount(sid, path, readonly=readonly)
    stack.callback(state.snapshots.unmount, path)
    return path


def rmdir_if_empty(path: str) -> None:
    """Remove a mount point left empty; anything else (a mount still on) stays untouched."""
    with contextlib.suppress(OSError):
        os.rmdir(path)
