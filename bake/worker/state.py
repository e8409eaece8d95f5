"""Everything a build's ops share on this machine: the snapshotter, image store, executor, cache
mounts, secrets and ssh agents, the registry client, the context stat cache, and the build's
scratch directory for temporary mounts (owned, and removed, by the build: see recovery.py)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

import anyio

if TYPE_CHECKING:
    from bake.registry.client import RegistryClient
    from bake.worker.cachemounts import CacheMounts
    from bake.worker.context import StatCache
    from bake.worker.execution import Executor
    from bake.worker.images import ImageStore
    from bake.worker.secrets import Secrets
    from bake.worker.snapshot import Snapshotter
    from bake.worker.sshagents import SSHAgents


class WorkerState:
    def __init__(self, *, cwd: str, host_platform: str, snapshots: Snapshotter, images: ImageStore,
                 client: Callable[[], RegistryClient], executor: Callable[[], Awaitable[Executor]],
                 cachemounts: CacheMounts,
                 secrets: Secrets, ssh: SSHAgents, statcache: StatCache, scratch: str, pull: bool = False) -> None:
        self.cwd = cwd
        self.host_platform = host_platform
        self.snapshots = snapshots
        self.images = images
        self._make_client = client
        self._client: RegistryClient | None = None
        self._make_executor = executor
        self._executor: Executor | None = None
        self.cachemounts = cachemounts
        self.secrets = secrets
        self.ssh = ssh
        self.statcache = statcache
        self.scratch = scratch
        self.pull = pull
        self._locks: dict[str, anyio.Lock] = {}

    def client(self) -> RegistryClient:
        """One registry client for the whole build (made on first use: a cached build needs none)."""
        if self._client is None:
            self._client = self._make_client()
        return self._client

    async def executor(self) -> Executor:
        """The executor, made when the first container runs (a cached build probes no runtime)."""
        async with self.lock("executor"):
            if self._executor is None:
                self._executor = await self._make_executor()
        return self._executor

    def lock(self, name: str) -> anyio.Lock:
        if name not in self._locks:
            self._locks[name] = anyio.Lock()
        return self._locks[name]

    async def aclose(self) -> None:
        """Release what the build held; call inside the build's event loop."""
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    def close(self) -> None:
        if self._executor is not None:
            self._executor.close()
        self.secrets.close()
        self.ssh.close()
        self.statcache.save()
