"""The executor contract: what the worker asks of whatever runs a build step's process.

An exec op is turned into a ``Process`` (what to run, as whom, on which network) and ``Mount``s
(what to see besides the rootfs); an ``Executor`` runs it and answers a ``Result``. The worker owns
everything around the run (snapshots, mount sources, commit); the executor owns only the run. Real
builds use ``RuncExecutor`` (executor.py); unit tests use a fake that records what it was asked.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from bake._record import record


@record
class Process:
    args: tuple[str, ...]
    env: tuple[str, ...] = ()
    cwd: str = "/"
    user: str = ""
    network: str = "default"  # default | host | none
    hostname: str = "buildkitsandbox"
    extra_hosts: tuple[str, ...] = ()  # "name=ip"
    platform: str = ""  # os/arch[/variant]; empty: the host's
    security: str = "sandbox"  # sandbox | insecure (needs the security.insecure entitlement)
    shm_size: int | None = None  # bytes of /dev/shm (default 64 MiB)
    ulimits: tuple[str, ...] = ()  # buildx's "nofile=1024:2048"; -1 is unlimited


@record
class Mount:
    destination: str
    source: str = ""
    type: str = "bind"  # bind | tmpfs
    readonly: bool = False
    size: int | None = None


@record
class Result:
    exit_code: int
    stubs: tuple[str, ...]  # rootfs paths the runtime created as mount points


Output = Callable[[bytes], None]


class Executor(Protocol):
    """Runs one process at a time per call; calls may overlap.

    ``run`` starts ``process`` with ``rootfs`` (a mounted, writable directory) as its root and
    ``mounts`` on top, streams everything it writes to stdout and stderr to ``output``, and returns
    once it has exited, with its exit code. A process that fails is a ``Result`` with a non-zero
    code, not an error; ``ExecError`` means the process could not be started (a missing entitlement,
    an unusable runtime or platform). The rootfs is left as the process left it, except that mount
    points the executor had to create there are removed again (and listed in ``Result.stubs``), so
    a layer never carries them. Cancelling ``run`` kills the process before it returns.

    ``close`` releases what the runs shared (a network); it is called once, after the last run.
    """

    async def run(self, rootfs: str, process: Process, mounts: tuple[Mount, ...] = (),
                  output: Output | None = None) -> Result: ...

    def close(self) -> None: ...
