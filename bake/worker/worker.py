"""The embedded worker's one entry: open it on a state root, then ask it for what a build needs.

``Worker.open`` opens the stores under the root (snapshots, images); ``claimed`` holds the
build's own scratch directory for as long as the build lives. From the worker a build gets the
persistent cache and its locks (for the solver), image-config resolvers (for the frontend), the
salts a fully cached build is recognised by, and — in ``session`` — the solver's backend, with
the executor, cache mounts, secrets, ssh agents and registry client one build's ops share.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING

from bake.content.stateroot import StateRoot
from bake.content.store import ContentStore
from bake.errors import BakeError
from bake.model import SecretEntry, SSHEntry
from bake.solver.cache import DirCache
from bake.worker.context import StatCache
from bake.worker.copysnapshot import open_snapshotter
from bake.worker.imageconfigs import NotRecorded, RegistryConfigs
from bake.worker.images import ImageStore
from bake.worker.keys import Salts
from bake.worker.recovery import Scratch, claim

if TYPE_CHECKING:
    from bake.registry.client import RegistryClient
    from bake.solver.locks import FileLocks
    from bake.worker.backend import GraphBackend
    from bake.worker.execution import Executor
    from bake.worker.remotecache import ImportedCache, Source
    from bake.worker.snapshot import Snapshotter
    from bake.worker.state import WorkerState

__all__ = ["NotRecorded", "Session", "Worker"]


class Worker:
    def __init__(self, root: str, snapshots: Snapshotter) -> None:
        self.root = root
        self.snapshots = snapshots
        self.images = ImageStore(root, ContentStore(StateRoot(root).content), snapshots)
        self.cache = DirCache(root)
        self.scratch = ""  # the build's own directory under run/, while claimed
        self._statcache: StatCache | None = None

    @classmethod
    def open(cls, root: str) -> Worker:
        """The worker on ``root`` (made if missing); ``OSError`` when it cannot be used."""
        os.makedirs(root, exist_ok=True)
        return cls(root, open_snapshotter(root))

    @contextlib.contextmanager
    def claimed(self) -> Iterator[str]:
        """The build's scratch directory (temporary mounts, bundles, downloads), removed at the end."""
        scratch: Scratch = claim(self._run_dir)
        self.scratch = self.images.scratch = self.images.layers.scratch = scratch.path  # where recovery looks
        try:
            yield scratch.path
        finally:
            scratch.release()

    @property
    def _run_dir(self) -> str:
        return StateRoot(self.root).run

    def locks(self) -> FileLocks:
        from bake.solver.locks import FileLocks

        return FileLocks(self.root)

    def configs(self, client: Callable[[], RegistryClient] | None = None, refresh: bool = False,
                gather: bool = False) -> RegistryConfigs:
        """Base images' configs for the frontend. Without ``client``: only what the root has
        recorded (``NotRecorded`` otherwise, or with ``gather`` an empty config, the image noted in
        ``missing``); with it, from inside the session's event loop."""
        if client is None:
            return RegistryConfigs(self.images, _no_client, offline=True, gather=gather)
        return RegistryConfigs(self.images, client, refresh=refresh, shared=True)

    def salts(self, cwd: str, host_platform: str, pull: bool) -> Salts:
        """What cache keys read from this machine (recorded image digests, context checksums)."""
        return Salts(self.images, self.statcache, os.path.abspath(cwd), host_platform, pull)

    @property
    def statcache(self) -> StatCache:
        if self._statcache is None:
            self._statcache = StatCache(StateRoot(self.root).statcache)
        return self._statcache

    def usable(self, result: str) -> bool:
        """Whether a cached result still names a committed snapshot."""
        return result.isdigit() and self.snapshots.committed(result)

    @contextlib.asynccontextmanager
    async def session(self, *, salts: Salts, env: Mapping[str, str], secrets: Sequence[SecretEntry],
                      ssh: Sequence[SSHEntry], allow: tuple[str, ...], runtime: str | None,
                      client: Callable[[], RegistryClient],
                      executor: Callable[[], Executor] | None = None) -> AsyncIterator[Session]:
        """One build's ops, inside its event loop: containers and mounts of builds that were killed
        are cleaned up first; everything the session made is released at the end. ``executor``
        replaces the OCI runtime (tests); by default one is chosen when the first container runs."""
        from bake.worker.backend import GraphBackend
        from bake.worker.cachemounts import CacheMounts
        from bake.worker.recovery import abandoned, recover
        from bake.worker.runtimes import select_runtime
        from bake.worker.secrets import Secrets
        from bake.worker.sshagents import SSHAgents
        from bake.worker.state import WorkerState

        assert self.scratch, "a session needs the build's scratch directory (Worker.claimed)"
        run_dir, scratch = self._run_dir, self.scratch
        if executor is None:
            dead = abandoned(run_dir)
            if dead:  # containers and mounts of builds that were killed
                recover(run_dir, await select_runtime(run_dir, runtime), dead)

        async def make_executor() -> Executor:
            if executor is not None:
                return executor()
            from bake.worker.executor import RuncExecutor

            return RuncExecutor(run_dir, await select_runtime(run_dir, runtime), allow=allow, bundles=scratch)

        state = WorkerState(
            cwd=salts.cwd, host_platform=salts.host_platform, snapshots=self.snapshots, images=self.images,
            client=client, executor=make_executor, cachemounts=CacheMounts(self.root),
            secrets=Secrets(secrets, env, salts.cwd), ssh=SSHAgents(ssh, env, salts.cwd),
            statcache=salts.statcache, scratch=scratch, pull=salts.pull)
        try:
            yield Session(state, GraphBackend(state, salts))
        finally:
            import anyio

            with anyio.CancelScope(shield=True):
                await state.aclose()
            state.close()

    def imported(self, sources: Sequence[Source]) -> ImportedCache | None:
        """The solver's remote cache over ``cache-from`` sources (None without any)."""
        from bake.worker.remotecache import ImportedCache

        return ImportedCache(self.images, sources) if sources else None


class Session:
    """A build's running worker: the solver's ``backend`` and the build's one registry ``client``."""

    def __init__(self, state: WorkerState, backend: GraphBackend) -> None:
        self.state = state
        self.backend = backend

    def client(self) -> RegistryClient:
        return self.state.client()

    async def prefetch(self) -> None:
        """Choose the runtime early; a failure here is reported by the first step that needs it."""
        with contextlib.suppress(BakeError, OSError):
            await self.state.executor()


def _no_client() -> RegistryClient:
    raise NotRecorded("an offline resolver asked for a registry")
