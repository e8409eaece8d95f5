"""Snapshots mounted with fuse-overlayfs, where the kernel's overlayfs cannot mount (chosen once per root).

Kernels before 5.11 refuse overlayfs in a user namespace, and some filesystems cannot hold an
overlay's upper directory; ``fuse-overlayfs`` (Debian's package of that name) merges the same
directories in user space. The layout on disk is overlay's (``snapshots/<id>/fs`` + ``work``,
relative lower dirs, the same flattening of deep chains), so everything that reads an upper dir
— the differ above all — works unchanged, once ``commit`` has put fuse-overlayfs's own markers
into the kernel's format:

- an opaque directory (a directory that replaced one below) carries, from fuse-overlayfs, the
  ``user.fuseoverlayfs.opaque`` xattr (or ``trusted.overlay.opaque`` as real root) plus a
  ``.wh..wh..opq`` file and a ``.wh..opq`` whiteout inside; the kernel's form is the xattr alone
  (``trusted.overlay.opaque``, or ``user.overlay.opaque`` where trusted xattrs cannot be set, as in
  a user namespace) — which fuse-overlayfs also honours when the snapshot is a lower dir later;
- a deletion is a 0/0 character device, as the kernel makes it (fuse-overlayfs makes one too
  wherever ``mknod`` is allowed, which includes root in a user namespace).

It is slower than the kernel's overlay — every read and write passes through a user-space
process — so it is only the fallback (``copysnapshot.open_snapshotter`` decides).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import stat
import subprocess
import tempfile

from bake.worker.errors import SnapshotError
from bake.worker.snapshot import Snapshotter

PROGRAM = "fuse-overlayfs"
_OPAQUE = ("trusted.overlay.opaque", "user.overlay.opaque", "user.fuseoverlayfs.opaque")
_MARKERS = (".wh..wh..opq", ".wh..opq")  # fuse-overlayfs's own, inside an opaque directory


class FuseSnapshotter(Snapshotter):
    def mount(self, sid: str, target: str, readonly: bool = False) -> None:
        chain = self.chain(sid)
        writable = not readonly and not self.committed(sid)
        lowers = chain[1:] if writable else chain
        if not lowers or (not writable and len(self._fit(lowers)) == 1):
            super().mount(sid, target, readonly)  # a bind mount, the same for every kind of snapshot
            return
        lowers = self._fit(lowers)
        options = "lowerdir=" + ":".join(f"{p}/fs" for p in lowers)
        if writable:
            options += f",upperdir={sid}/fs,workdir={sid}/work"
        self._run([PROGRAM, "-o", options, os.path.abspath(target)])

    def commit(self, sid: str) -> str:
        if not self.committed(sid):
            to_kernel_format(self.upper(sid), [self.upper(p) for p in self.chain(sid)[1:]])
        return super().commit(sid)


def to_kernel_format(upper: str, lowers: list[str]) -> None:
    """Rewrite fuse-overlayfs's opaque-directory markers in ``upper`` as the kernel's overlay writes
    them. fuse-overlayfs also marks every directory it creates opaque, even one with nothing below
    it; the kernel marks only a directory made where ``lowers`` have an entry, and so does this."""
    for top, dirs, _ in os.walk(upper):
        for name in dirs:
            path = os.path.join(top, name)
            if os.path.islink(path) or not _opaque(path):
                continue
            for marker in _MARKERS:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(os.path.join(path, marker))
            for key in _OPAQUE:
                with contextlib.suppress(OSError):
                    os.removexattr(path, key, follow_symlinks=False)
            rel = os.path.relpath(path, upper)
            if any(_entry(lower, rel) for lower in lowers):
                try:
                    os.setxattr(path, "trusted.overlay.opaque", b"y", follow_symlinks=False)
                except OSError:  # trusted xattrs need root outside any user namespace
                    os.setxattr(path, "user.overlay.opaque", b"y", follow_symlinks=False)


def _entry(lower: str, rel: str) -> bool:
    """Whether ``lower`` has an entry at ``rel`` — looked up without following any link."""
    at = lower
    parts = rel.split("/")
    for i, part in enumerate(parts):
        at = os.path.join(at, part)
        try:
            st = os.lstat(at)
        except OSError:
            return False
        if i < len(parts) - 1 and not stat.S_ISDIR(st.st_mode):
            return False
    return True


def _opaque(path: str) -> bool:
    if any(_has(path, key) for key in _OPAQUE):
        return True
    with contextlib.suppress(OSError):
        return os.path.isfile(os.path.join(path, _MARKERS[0])) and not os.path.islink(os.path.join(path, _MARKERS[0]))
    return False


def _has(path: str, key: str) -> bool:
    try:
        return os.getxattr(path, key, follow_symlinks=False) in (b"y", b"x")
    except OSError:
        return False


def supported(directory: str) -> bool:
    """Whether fuse-overlayfs is installed and can mount an overlay with its upper dir in ``directory``."""
    if shutil.which(PROGRAM) is None:
        return False
    os.makedirs(directory, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="probe-", dir=directory) as d:
        for name in ("lower", "upper", "work", "merged"):
            os.mkdir(os.path.join(d, name))
        options = f"lowerdir={d}/lower,upperdir={d}/upper,workdir={d}/work"
        ok = subprocess.run([PROGRAM, "-o", options, f"{d}/merged"], capture_output=True).returncode == 0
        if ok and subprocess.run(["umount", f"{d}/merged"], capture_output=True).returncode != 0:
            raise SnapshotError(f"cannot unmount the fuse-overlayfs probe at {d}/merged")
        return ok
