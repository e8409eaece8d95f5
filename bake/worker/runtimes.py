"""Choose the OCI runtime: ``crun`` (faster to start) when a real probe container runs with it,
else ``runc``. crun fails on some hosts where runc works (hybrid cgroup v1/v2 hierarchies:
"cgroups in hybrid mode not supported"), so being installed is not enough.

The probe runs the host's ``true`` in a container whose rootfs holds only read-only binds of the
host's program directories, through the same executor (and so the same config.json) as builds.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile

from bake.content.atomic import write_atomic
from bake.worker.errors import ExecError
from bake.worker.execution import Mount, Process
from bake.worker.executor import RuncExecutor

PREFERENCE = ("crun", "runc")
_HOST_DIRS = ("usr", "bin", "sbin", "lib", "lib32", "lib64", "libx32")
_probed: dict[tuple[str, str], bool] = {}
# Per boot and machine (a tmpfs); an ordinary user's namespace cannot write it and keeps its root's record.
MACHINE_RECORD = "/run/bake/runtimes.json"


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
    """Whether ``runtime`` runs a trivial container on this host. The answer is remembered in
    ``state_dir/runtimes.json`` for this binary and this boot (cgroup set-ups change with a reboot),
    and in MACHINE_RECORD where that can be written, so that a new state root — every cold build
    of a benchmark or CI job — does not start a probe container (~0.1 s) again."""
    path = shutil.which(runtime) or runtime
    key = (path, state_dir)
    if key not in _probed:
        ident = _identity(path)
        records = (os.path.join(state_dir, "runtimes.json"), MACHINE_RECORD)
        for record in records:
            known = _load(record)
            if ident in known:
                _probed[key] = bool(known[ident])
                return _probed[key]
        _probed[key] = await _probe(runtime, state_dir)
        for record in records:
            known = {k: v for k, v in _load(record).items() if k.split("|")[0] != path and _current(k)}
            known[ident] = _probed[key]
            with contextlib.suppress(OSError):
                os.makedirs(os.path.dirname(record), exist_ok=True)
                write_atomic(record, json.dumps(known).encode(), durable=False)  # a lost record: probed again
    return _probed[key]


def _current(ident: str) -> bool:
    """Whether a remembered answer may still matter: its binary exists (test stand-ins come and go)."""
    return os.path.exists(ident.split("|")[0])


def _identity(path: str) -> str:
    try:
        st = os.stat(path)
        with open("/proc/sys/kernel/random/boot_id") as f:
            boot = f.read().strip()
    except OSError:
        return f"{path}|unknown"
    return f"{path}|{st.st_size}|{st.st_mtime_ns}|{boot}"


def _load(path: str) -> dict[str, bool]:
    try:
        with open(path) as f:
            data = json.load(f)
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


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
