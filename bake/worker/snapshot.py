"""Overlayfs snapshots: each snapshot is a directory of changes on top of its parent chain.

Layout under the root: ``snapshots/<id>/fs`` (the changes), ``snapshots/<id>/work`` (overlay's
scratch), ``snapshots/<id>/parent`` and ``…/committed`` (metadata). Ids are short integers and
lower directories are given relative to ``snapshots/`` (the mount runs there), because the mount
option string is silently truncated near one page: options over 4,000 bytes, or chains deeper
than the kernel's 500 lower layers, are refused rather than mounted wrong.
"""

from __future__ import annotations

import os
import shutil
import subprocess

from bake.errors import BakeError

MAX_OPTIONS = 4000
MAX_LOWERS = 500


class SnapshotError(BakeError):
    """A snapshot operation failed (mount errors carry the kernel's message)."""


class Snapshotter:
    def __init__(self, root: str) -> None:
        self.dir = os.path.join(root, "snapshots")
        os.makedirs(self.dir, exist_ok=True)

    # --- lifecycle ----------------------------------------------------------------------------

    def prepare(self, parent: str | None) -> str:
        """A new active snapshot on top of ``parent`` (a committed one, or None for an empty tree)."""
        if parent is not None and not self.committed(parent):
            raise SnapshotError(f"snapshot {parent} is not committed")
        sid = self._new_id()
        base = os.path.join(self.dir, sid)
        os.makedirs(os.path.join(base, "fs"))
        os.makedirs(os.path.join(base, "work"))
        if parent is not None:
            _write(os.path.join(base, "parent"), parent)
        return sid

    def commit(self, sid: str) -> str:
        """Freeze an active snapshot; it can then be a parent."""
        shutil.rmtree(os.path.join(self.dir, sid, "work"), ignore_errors=True)
        _write(os.path.join(self.dir, sid, "committed"), "")
        return sid

    def remove(self, sid: str) -> None:
        if any(self.parent(other) == sid for other in self.ids()):
            raise SnapshotError(f"snapshot {sid} has children")
        shutil.rmtree(os.path.join(self.dir, sid))

    # --- queries ------------------------------------------------------------------------------

    def ids(self) -> list[str]:
        return sorted((n for n in os.listdir(self.dir) if n.isdigit()), key=int)

    def parent(self, sid: str) -> str | None:
        try:
            with open(os.path.join(self.dir, sid, "parent")) as f:
                return f.read() or None
        except FileNotFoundError:
            return None

    def committed(self, sid: str) -> bool:
        return os.path.exists(os.path.join(self.dir, sid, "committed"))

    def chain(self, sid: str) -> list[str]:
        """``sid`` and its ancestors, nearest first."""
        out = [sid]
        while (p := self.parent(out[-1])) is not None:
            out.append(p)
        return out

    def upper(self, sid: str) -> str:
        """The directory holding this snapshot's own changes (what the differ reads)."""
        return os.path.join(self.dir, sid, "fs")

    # --- mounts -------------------------------------------------------------------------------

    def mount(self, sid: str, target: str, readonly: bool = False) -> None:
        """Mount the merged view of ``sid`` at ``target`` (writable unless ``readonly`` or committed)."""
        chain = self.chain(sid)
        writable = not readonly and not self.committed(sid)
        lowers = chain[1:] if writable else chain
        if not lowers:
            self._run(["mount", "--bind", self.upper(sid), target])
            if readonly:
                self._run(["mount", "-o", "remount,bind,ro", target])
            return
        if len(lowers) > MAX_LOWERS:
            raise SnapshotError(f"snapshot {sid}: {len(lowers)} layers exceed overlayfs's {MAX_LOWERS}; flatten the chain")
        options = "lowerdir=" + ":".join(f"{p}/fs" for p in lowers)
        if writable:
            options += f",upperdir={sid}/fs,workdir={sid}/work"
        elif len(lowers) == 1:  # overlay needs two lowers without an upper; a read-only bind does it
            self._run(["mount", "--bind", self.upper(lowers[0]), target])
            self._run(["mount", "-o", "remount,bind,ro", target])
            return
        if len(options) > MAX_OPTIONS:
            raise SnapshotError(f"snapshot {sid}: overlay options of {len(options)} bytes would be truncated; flatten the chain")
        self._run(["mount", "-t", "overlay", "overlay", "-o", options, os.path.abspath(target)])

    def unmount(self, target: str) -> None:
        self._run(["umount", target])

    def _run(self, cmd: list[str]) -> None:
        proc = subprocess.run(cmd, cwd=self.dir, capture_output=True, text=True)
        if proc.returncode != 0:
            raise SnapshotError(f"{' '.join(cmd[:3])}…: {proc.stderr.strip() or 'failed'}")

    def _new_id(self) -> str:
        n = max((int(i) for i in self.ids()), default=0) + 1
        while True:
            try:
                os.mkdir(os.path.join(self.dir, str(n)))
                return str(n)
            except FileExistsError:  # another process took it
                n += 1


def _write(path: str, text: str) -> None:
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
