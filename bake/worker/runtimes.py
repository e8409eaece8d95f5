"""Choose the OCI runtime: ``crun`` (faster to start) when a real probe container runs with it,
else ``runc``. crun fails on some hosts where runc works (hybrid cgroup v1/v2 hierarchies:
"cgroups in hybrid mode not supported"), so being installed is not enough.

The probe runs the host's ``true`` in a container whose rootfs holds only read-only binds of the
host's program directories, through the same executor (and so the same config.json) as builds.
"""

from __future__ import annotations

import os
import shutil
import tempfile

from bake.worker.executor import ExecError, Mount, Process, RuncExecutor

PREFERENCE = ("crun", "runc")
_HOST_DIRS = ("usr", "bin", "sbin", "lib", "lib32", "lib64", "libx32")
_probed: dict[tuple[str, str], bool] = {}


async def select_runtime(state_dir: str, requested: str | None = None) -> str:
    """``requested`` when given (it must be installed), else the first of PREFERENCE that starts a
    container here. Probe results are remembered for this process."""
    if requested:
        if shutil.which(requested) is None:
            raise ExecError(f"OCI runtime {requested!r} is not installed")
        return requested
    for runtime in PREFERENCE:
        if shutil.which(runtime) is not None and await probe(runtime, state_dir):
            return runtime
    raise ExecError("no working OCI runtime: install runc (apt-get install runc)")


async def probe(runtime: str, state_dir: str) -> bool:
    """Whether ``runtime`` runs a trivial container on this host."""
    key = (shutil.which(runtime) or runtime, state_dir)
    if key not in _probed:
        _probed[key] = await _probe(runtime, state_dir)
    return _probed[key]


async def _probe(runtime: str, state_dir: str) -> bool:
    true = shutil.which("true")
    os.makedirs(state_dir, exist_ok=True)
    rootfs = tempfile.mkdtemp(prefix="probe-", dir=state_dir)
    try:
        mounts = []
        for name in _HOST_DIRS:
            host = "/" + name
            if os.path.islink(host):
                os.symlink(os.readlink(host), os.path.join(rootfs, name))
            elif os.path.isdir(host):
                mounts.append(Mount(host, host, readonly=True))
        if true is None:
            return False
        result = await RuncExecutor(state_dir, runtime).run(rootfs, Process((true,), network="none"), tuple(mounts))
        return result.exit_code == 0
    except (OSError, ExecError):
        return False
    finally:
        shutil.rmtree(rootfs, ignore_errors=True)
