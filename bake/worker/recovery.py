"""Each build owns a scratch directory under ``<root>/run`` (its temporary mounts and container
bundles), locked for as long as the build lives. A build killed with ``kill -9`` leaves its lock
free: the next build stops that build's containers, takes its mounts down and removes the
directory. Nothing else needs repair — snapshots are only used once committed and cache entries
are written whole — so a crash at any moment costs at most work, never correctness. What a killed
process leaves is only litter: temp files of whole-file writes (``*.<pid>.<thread>.<n>.tmp``) and
of the content store's ingest, which ``sweep`` removes when their writer no longer runs (every
build after a crash does, from ``claim``; so does ``bake prune``).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import subprocess
import tempfile
import time

from bake._record import record
from bake.content.atomic import stale_temporary
from bake.content.stateroot import StateRoot

PREFIX = "build-"


@record
class Scratch:
    path: str
    fd: int

    def release(self) -> None:
        shutil.rmtree(self.path, ignore_errors=True)
        os.close(self.fd)


def claim(run_dir: str) -> Scratch:
    """A new scratch directory for this build, locked until ``release``. After a crash (a scratch
    directory nobody holds) the dead writers' temp files under the root are swept first."""
    os.makedirs(run_dir, exist_ok=True)
    if abandoned(run_dir):
        sweep(os.path.dirname(os.path.abspath(run_dir)))
    path = tempfile.mkdtemp(prefix=f"{PREFIX}{os.getpid()}-", dir=run_dir)
    fd = os.open(os.path.join(path, ".lock"), os.O_CREAT | os.O_RDWR, 0o600)
    fcntl.flock(fd, fcntl.LOCK_EX)
    return Scratch(path, fd)


def abandoned(run_dir: str) -> list[str]:
    """Scratch directories of builds that died (no live build holds their lock)."""
    if not os.path.isdir(run_dir):
        return []
    return [os.path.join(run_dir, name) for name in sorted(os.listdir(run_dir))
            if name.startswith(PREFIX) and os.path.isdir(os.path.join(run_dir, name))
            and _abandoned(os.path.join(run_dir, name))]


def recover(run_dir: str, runtime: str, dead: list[str]) -> list[str]:
    """Clean up after the builds that died (``abandoned``); returns the directories reclaimed."""
    _stop_containers(run_dir, runtime, dead)
    for path in dead:
        _unmount_below(path)
        if not _mounts_below(path):  # never delete through a mount that would not come off
            shutil.rmtree(path, ignore_errors=True)
    return dead


def sweep(root: str, everything: bool = False) -> int:
    """Remove temp files whose writer died, under the state root ``root``; returns how many.
    ``everything`` (prune: no build runs) also removes temp files that name no process (``mkstemp``
    names: the parse cache's, and older versions' ingest and stat cache files) once an hour old."""
    removed = 0
    old = time.time() - 3600
    layout = StateRoot(root)
    for base, dirs, names in os.walk(root):
        in_snapshot = os.path.dirname(base).startswith(layout.snapshots + os.sep)
        if in_snapshot or _under(base, layout.run, layout.cachemounts):
            dirs[:] = []  # build scratch, cache mount contents, snapshot trees: not the root's own files
            continue
        for name in names:
            path = os.path.join(base, name)
            stale = stale_temporary(name)
            if not stale and everything and name.startswith((".tmp-", ".statcache-", "blob-")):
                with contextlib.suppress(OSError):
                    stale = os.lstat(path).st_mtime < old
            if stale:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(path)
                    removed += 1
    return removed


def _under(path: str, *dirs: str) -> bool:
    """Whether ``path`` is one of ``dirs`` or lies below one."""
    return any(path == d or path.startswith(d + os.sep) for d in dirs)


def _abandoned(path: str) -> bool:
    try:
        fd = os.open(os.path.join(path, ".lock"), os.O_RDWR)
    except FileNotFoundError:
        return True
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False  # a live build holds it
    finally:
        os.close(fd)
    return True


def _stop_containers(run_dir: str, runtime: str, dead: list[str]) -> None:
    root = os.path.join(run_dir, "runtime")
    proc = subprocess.run([runtime, "--root", root, "list", "--format", "json"], capture_output=True, text=True)
    try:
        containers = json.loads(proc.stdout or "null") or []
    except ValueError:
        return
    for c in containers:
        bundle = str(c.get("bundle", ""))
        if any(bundle.startswith(d + os.sep) for d in dead):
            for args in (["kill", c["id"], "KILL"], ["delete", "--force", c["id"]]):
                subprocess.run([runtime, "--root", root, *args], capture_output=True, timeout=30)


def _mounts_below(path: str) -> list[str]:
    prefix = os.path.realpath(path) + os.sep
    out = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            point = line.split()[4].replace("\\040", " ")
            if point.startswith(prefix):
                out.append(point)
    return sorted(out, key=len, reverse=True)  # deepest first


def _unmount_below(path: str) -> None:
    for point in _mounts_below(path):
        with contextlib.suppress(OSError):
            subprocess.run(["umount", point], capture_output=True)
