"""An exec op run for real: its root snapshot mounted writable, every ``--mount`` realised (binds
of inputs, cache directories, tmpfs, secrets, ssh agents), the process run by the executor, and
the root committed as the result. A failing process leaves no snapshot and raises a ``StepError``
with its exit code and last lines of output.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Sequence

import anyio

from bake.errors import StepError
from bake.graph.ops import ExecOp, Vertex
from bake.graph.ops import Mount as GraphMount
from bake.solver.protocols import Log
from bake.worker.errors import ExecError
from bake.worker.execution import Mount, Process
from bake.worker.inroot import Root
from bake.worker.ops.mounting import tempdir
from bake.worker.snapshot import Snapshotter
from bake.worker.state import WorkerState

TAIL_LINES = 10


class Tail:
    """The last lines a process wrote (what a failure shows)."""

    def __init__(self, keep: int = TAIL_LINES) -> None:
        self.keep = keep
        self.data = b""

    def add(self, data: bytes) -> None:
        self.data = (self.data + data)[-8192:]

    def lines(self) -> tuple[str, ...]:
        return tuple(self.data.decode(errors="replace").rstrip("\n").split("\n")[-self.keep:]) if self.data else ()


async def run(state: WorkerState, v: Vertex, inputs: Sequence[str], log: Log) -> str:
    """Mounts, unmounts and commits run in worker threads: each is a subprocess or disk work, and
    several steps set up and tear down at once without holding up each other's output."""
    op, name, platform = v.op, v.name, v.platform
    assert isinstance(op, ExecOp)
    snaps = state.snapshots
    root = next(m for m in op.mounts if m.output)
    sid = await anyio.to_thread.run_sync(snaps.prepare, inputs[root.input] if root.input is not None else None)
    tail = Tail()
    stack = contextlib.ExitStack()
    try:
        try:
            rootfs = tempdir(state, stack, "rootfs-")
            await anyio.to_thread.run_sync(snaps.mount, sid, rootfs)
            stack.callback(snaps.unmount, rootfs)
            mounts: list[Mount] = []
            env = list(op.env)
            for m in op.mounts:
                if m.output:
                    continue
                mount, extra = await _realize(state, stack, m, inputs, v.ignore_cache)
                if mount is not None:
                    mounts.append(mount)
                env.extend(f"{k}={v}" for k, v in extra.items())
            process = Process(op.args, tuple(env), op.cwd or "/", op.user, op.network, extra_hosts=op.extra_hosts,
                              platform=platform if platform and platform != state.host_platform else "",
                              security=op.security, shm_size=op.shm_size, ulimits=op.ulimits)

            def output(data: bytes) -> None:
                tail.add(data)
                log(data)

            executor = await state.executor()
            result = await executor.run(rootfs, process, tuple(mounts), output)
        finally:
            with anyio.CancelScope(shield=True):  # cancelled or not, every mount comes off
                await anyio.to_thread.run_sync(stack.close)
        if result.exit_code != 0:
            reason = f"process {_quote(op.args)} did not complete successfully: exit code: {result.exit_code}"
            full = _full_filesystem(snaps.upper(sid))
            if full:
                reason += f"; no space left on device: the filesystem of {full} is full"
            raise StepError(name, reason, output=tail.lines(), exit_code=result.exit_code)
    except BaseException:
        with contextlib.suppress(Exception):
            snaps.remove(sid)
        raise
    return await anyio.to_thread.run_sync(snaps.commit, sid)


async def _realize(state: WorkerState, stack: contextlib.ExitStack, m: GraphMount,
                   inputs: Sequence[str], ignore_cache: bool = False) -> tuple[Mount | None, dict[str, str]]:
    """An executor mount (and environment variables) for one graph mount of the exec. A step that
    runs regardless of the cache (no-cache) gets an empty cache mount of its own, dropped after the
    run, as BuildKit gives it one (recorded with buildx --no-cache: every run starts from nothing)."""
    snaps = state.snapshots
    if m.type == "bind":
        if m.input is None:
            return Mount(m.target, tempdir(state, stack, "empty-"), readonly=m.readonly), {}
        view = tempdir(state, stack, "bind-")
        source = inputs[m.input]
        if m.readonly:
            await anyio.to_thread.run_sync(lambda: snaps.mount(source, view, readonly=True))
            stack.callback(snaps.unmount, view)
        else:  # writable: a throwaway child, every change is dropped after the run
            await anyio.to_thread.run_sync(stack.enter_context, snaps.scratch(source, view))
        with Root(view) as root:  # a link in the selector resolves inside the mounted tree, never on the host
            try:
                source = root.real(m.selector or "/")
            except OSError as e:
                raise ExecError(f"bind mount source {m.selector or '/'}: {e.strerror}") from e
        return Mount(m.target, source, readonly=m.readonly), {}
    if m.type == "cache":
        mode = m.mode if m.mode is not None else 0o755
        if ignore_cache:
            path = tempdir(state, stack, "empty-")
            os.chmod(path, mode)
            if os.geteuid() == 0:
                os.chown(path, m.uid or 0, m.gid or 0)
        else:
            lease = await anyio.to_thread.run_sync(
                lambda: state.cachemounts.acquire(m.cache_id, m.sharing or "shared", mode, m.uid or 0, m.gid or 0))
            stack.callback(lease.release)
            path = lease.path
        if m.input is not None and not os.listdir(path):  # from=: the cache starts as that directory
            view = tempdir(state, stack, "cache-from-")
            await anyio.to_thread.run_sync(_seed, snaps, inputs[m.input], view, m.selector, path)
        return Mount(m.target, path, readonly=m.readonly), {}
    if m.type == "tmpfs":
        return Mount(m.target, type="tmpfs", size=m.size), {}
    if m.type == "secret":
        return state.secrets.realize(m)
    if m.type == "ssh":
        return state.ssh.realize(m)
    raise ExecError(f"mount type {m.type!r} is not supported")


def _seed(snaps: Snapshotter, source: str, view: str, selector: str, dest: str) -> None:
    snaps.mount(source, view, readonly=True)
    try:
        with Root(view) as root:
            source = root.real(selector or "/")
        shutil.copytree(source, dest, symlinks=True, dirs_exist_ok=True)
    finally:
        snaps.unmount(view)


def _full_filesystem(path: str) -> str:
    """``path`` when the filesystem holding it has (almost) no room left: the likely reason a step
    failed, which its own output may not say."""
    try:
        st = os.statvfs(path)
    except OSError:
        return ""
    return path if st.f_bavail * st.f_frsize < (1 << 20) or (st.f_files and st.f_favail == 0) else ""


def _quote(args: tuple[str, ...]) -> str:
    return '"' + " ".join(args) + '"'
