"""Fakes for unit tests of the worker's ops: an executor that records what it was asked to run and
plays a script, and a snapshotter whose mounts are copies (no privileges, no overlayfs)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from bake.content.store import ContentStore
from bake.worker.cachemounts import CacheMounts
from bake.worker.context import StatCache
from bake.worker.execution import Mount, Output, Process, Result
from bake.worker.images import ImageStore
from bake.worker.secrets import Secrets
from bake.worker.snapshot import Snapshotter
from bake.worker.sshagents import SSHAgents
from bake.worker.state import WorkerState


@dataclass(frozen=True)
class Call:
    """One ``run``: what the executor was given, and the files it saw (path → bytes, ``/`` first:
    the rootfs, then each bind mount under its destination)."""

    process: Process
    mounts: tuple[Mount, ...]
    files: dict[str, bytes]


@dataclass
class FakeExecutor:
    """Runs no process: records each call, writes ``writes`` into the rootfs, sends ``output`` and
    answers ``exit_code``."""

    writes: dict[str, bytes] = field(default_factory=dict)
    output: bytes = b""
    exit_code: int = 0
    calls: list[Call] = field(default_factory=list)
    closed: bool = False

    async def run(self, rootfs: str, process: Process, mounts: tuple[Mount, ...] = (),
                  output: Output | None = None) -> Result:
        seen = _files(rootfs, "/")
        for m in mounts:
            if m.type == "bind" and os.path.isdir(m.source):
                seen.update(_files(m.source, m.destination))
        self.calls.append(Call(process, mounts, seen))
        for path, data in self.writes.items():
            full = os.path.join(rootfs, path.lstrip("/"))
            os.makedirs(os.path.dirname(full), exist_ok=True)
            Path(full).write_bytes(data)
        if output is not None and self.output:
            output(self.output)
        return Result(self.exit_code, ())

    def close(self) -> None:
        self.closed = True


def _files(root: str, at: str) -> dict[str, bytes]:
    out = {}
    for d, _, names in os.walk(root):
        for name in names:
            full = os.path.join(d, name)
            if os.path.isfile(full) and not os.path.islink(full):
                out[os.path.join(at, os.path.relpath(full, root))] = Path(full).read_bytes()
    return out


class CopySnapshots(Snapshotter):
    """The real snapshot lifecycle with mounts that are copies: ``mount`` copies the merged chain
    into the target; unmounting a writable view copies it back as the snapshot's own tree (so a
    deletion is not recorded: enough for ops that add files)."""

    def __init__(self, root: str) -> None:
        super().__init__(root)
        self.views: dict[str, tuple[str, bool]] = {}

    def mount(self, sid: str, target: str, readonly: bool = False) -> None:
        for layer in reversed(self.chain(sid)):
            shutil.copytree(self.upper(layer), target, symlinks=True, dirs_exist_ok=True)
        self.views[target] = (sid, not readonly and not self.committed(sid))

    def unmount(self, target: str) -> None:
        sid, writable = self.views.pop(target)
        if writable:
            shutil.rmtree(self.upper(sid))
            shutil.copytree(target, self.upper(sid), symlinks=True)
        for name in os.listdir(target):
            full = os.path.join(target, name)
            if os.path.isdir(full) and not os.path.islink(full):
                shutil.rmtree(full)
            else:
                os.unlink(full)

    def tree(self, sid: str) -> dict[str, bytes]:
        """Every file of the snapshot's merged view."""
        out: dict[str, bytes] = {}
        for layer in reversed(self.chain(sid)):
            out.update(_files(self.upper(layer), "/"))
        return out


def worker_state(root: Path, executor: FakeExecutor | None = None, cwd: Path | None = None,
                 client: Callable[[], object] | None = None) -> WorkerState:
    """A build's worker state on ``root`` with copy snapshots and ``executor`` (and ``client``, a
    registry; without one, asking for a registry fails the test)."""
    snapshots = CopySnapshots(str(root))
    scratch = root / "run" / "build-test"
    scratch.mkdir(parents=True)
    fake = executor or FakeExecutor()

    async def make() -> FakeExecutor:
        return fake

    def no_client() -> object:
        raise AssertionError("no registry in unit tests")

    context = str(cwd or root)
    return WorkerState(cwd=context, host_platform="linux/amd64", snapshots=snapshots,
                       images=ImageStore(str(root), ContentStore(str(root / "content")), snapshots),
                       client=client or no_client, executor=make, cachemounts=CacheMounts(str(root)),  # type: ignore[arg-type]
                       secrets=Secrets([], {}, context), ssh=SSHAgents([], {}, context),
                       statcache=StatCache(None), scratch=str(scratch))


def snapshot(state: WorkerState, files: dict[str, bytes]) -> str:
    """A committed snapshot of ``state`` holding ``files`` (path inside the root: content)."""
    sid = state.snapshots.prepare(None)
    for path, data in files.items():
        full = Path(state.snapshots.upper(sid)) / path.lstrip("/")
        full.parent.mkdir(parents=True, exist_ok=True)
        full.write_bytes(data)
    return state.snapshots.commit(sid)
