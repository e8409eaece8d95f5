"""Copy-based snapshots where neither overlayfs nor fuse-overlayfs can mount (chosen automatically).

Each snapshot keeps ``full/``, its whole tree (a copy of its parent's, reflinked where the
filesystem can), and on commit ``fs/``: its changes against the parent in overlay's format
(changed entries, and deletions as 0/0 character-device whiteouts), so the differ and every
caller see the same thing as with overlayfs. Mounts are bind mounts of ``full/``. It costs disk
and a tree walk per commit; overlayfs is always preferred.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import stat
import subprocess
import tempfile
from collections.abc import Callable

from bake.content.atomic import write_atomic
from bake.content.stateroot import StateRoot
from bake.worker import mounts
from bake.worker.errors import SnapshotError
from bake.worker.snapshot import Snapshotter


class CopySnapshotter(Snapshotter):
    def prepare(self, parent: str | None) -> str:
        sid = super().prepare(parent)
        full = self._full(sid)
        os.mkdir(full)
        if parent is not None:
            self._run(["cp", "-a", "--reflink=auto", "--", self._full(parent) + "/.", full])
        return sid

    def commit(self, sid: str) -> str:
        parent = self.parent(sid)
        if not self.committed(sid):
            full, upper = self._full(sid), self.upper(sid)
            if parent is None and not os.listdir(full) and os.listdir(upper):
                # a source written straight into a new tree's upper dir (the build context, a
                # download, a git checkout), as overlay snapshots allow: that is the whole tree
                self._run(["cp", "-a", "--reflink=auto", "--", upper + "/.", full])
            else:
                diff_trees(self._full(parent) if parent else None, full, upper)
        return super().commit(sid)

    def mount(self, sid: str, target: str, readonly: bool = False) -> None:
        self._bind(self._full(sid), os.path.abspath(target), readonly or self.committed(sid))

    def _damage(self, sid: str, below: list[str]) -> str:
        damage = super()._damage(sid, below)
        if not damage and not os.path.isdir(self._full(sid)):
            return "has lost its full directory"  # what this snapshotter mounts
        return damage

    def _full(self, sid: str) -> str:
        return os.path.join(self.dir, sid, "full")


def diff_trees(old: str | None, new: str, out: str) -> None:
    """Write into ``out`` what turns tree ``old`` into tree ``new``, as an overlay upper dir."""
    copies: list[str] = []
    dirs: list[str] = []  # directories whose own metadata changed (their entries are handled separately)
    whiteouts: list[str] = []

    def walk(rel: str) -> None:
        new_dir = os.path.join(new, rel)
        old_dir = os.path.join(old, rel) if old is not None else None
        new_names = set(os.listdir(new_dir))
        old_names = set(os.listdir(old_dir)) if old_dir is not None and _is_dir(old_dir) else set()
        whiteouts.extend(os.path.join(rel, n) for n in sorted(old_names - new_names))
        for name in sorted(new_names):
            path = os.path.join(rel, name)
            a = os.lstat(os.path.join(new, path))
            b = os.lstat(os.path.join(old, path)) if old is not None and name in old_names else None
            if b is None or stat.S_IFMT(a.st_mode) != stat.S_IFMT(b.st_mode):
                copies.append(path)  # new, or a different kind of entry: all of it
            elif stat.S_ISDIR(a.st_mode):
                if _meta(a) != _meta(b):
                    dirs.append(path)
                walk(path)
            elif _changed(a, b, os.path.join(new, path), os.path.join(old, path) if old else ""):
                copies.append(path)

    walk("")
    for i in range(0, len(copies), 500):
        _cp(new, out, copies[i:i + 500])
    for path in dirs:
        _ensure_dir(new, out, path)
    for path in whiteouts:
        parent = os.path.dirname(path)
        if parent:
            _ensure_dir(new, out, parent)
        os.mknod(os.path.join(out, path), stat.S_IFCHR | 0o000, os.makedev(0, 0))


def _is_dir(path: str) -> bool:
    return os.path.isdir(path) and not os.path.islink(path)


def _meta(s: os.stat_result) -> tuple[int, ...]:
    return (s.st_mode, s.st_uid, s.st_gid)


def _changed(a: os.stat_result, b: os.stat_result, new: str, old: str) -> bool:
    if _meta(a) != _meta(b):
        return True
    if stat.S_ISLNK(a.st_mode):
        return os.readlink(new) != os.readlink(old)
    if stat.S_ISCHR(a.st_mode) or stat.S_ISBLK(a.st_mode):
        return a.st_rdev != b.st_rdev
    return a.st_size != b.st_size or a.st_mtime_ns != b.st_mtime_ns


def _cp(src_root: str, out: str, paths: list[str]) -> None:
    """Copy entries with their attributes; parents are created with the source's attributes."""
    if paths:
        subprocess.run(["cp", "-a", "--parents", "--no-dereference", "-t", out, "--", *paths], cwd=src_root,
                       check=True, capture_output=True)


def _ensure_dir(src_root: str, out: str, path: str) -> None:
    """``out/path`` as a directory with the attributes it has in the source tree (parents too)."""
    parts = path.split("/")
    for n in range(1, len(parts) + 1):
        rel = "/".join(parts[:n])
        target = os.path.join(out, rel)
        if not os.path.lexists(target):
            source = os.path.join(src_root, rel)
            os.mkdir(target)
            shutil.copystat(source, target, follow_symlinks=False)
            st = os.lstat(source)
            os.lchown(target, st.st_uid, st.st_gid)


def overlay_supported(directory: str) -> bool:
    """Whether an overlay with its upper and work dirs in ``directory`` can be mounted."""
    os.makedirs(directory, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="probe-", dir=directory) as d:
        for name in ("lower", "upper", "work", "merged"):
            os.mkdir(os.path.join(d, name))
        options = f"lowerdir={d}/lower,upperdir={d}/upper,workdir={d}/work"
        try:  # by system call: starting mount(8) and umount(8) cost a new root's first build 40-80 ms
            mounts.overlay(options, f"{d}/merged")
        except OSError:
            return False
        with contextlib.suppress(OSError):
            mounts.unmount(f"{d}/merged")
        return True


KINDS = ("overlay", "fuse-overlayfs", "copy")  # in the order they are preferred


def open_snapshotter(root: str, prefer: str | None = None) -> Snapshotter:
    """Kernel overlayfs snapshots where the root's filesystem allows them, else fuse-overlayfs, else
    copy-based ones — decided once per root and remembered (``snapshots/.kind``): a process that
    cannot mount (an ordinary user reading the cache outside its namespace) must not take overlay
    snapshots for damaged copy ones and set them aside. ``prefer`` (else ``$BAKE_SNAPSHOTTER``)
    names the kind a new root gets, if it works here."""
    snapshots = StateRoot(root).snapshots
    kind = snapshot_kind(snapshots, probe, prefer or os.environ.get("BAKE_SNAPSHOTTER") or None)
    return _SNAPSHOTTERS[kind](root)


def recorded_snapshotter(root: str) -> Snapshotter | None:
    """The root's snapshots for reading only — committed records are read, nothing is ever set aside
    — if the root's kind is recorded; None otherwise (no probe: the caller may not be able to mount)."""
    try:
        with open(os.path.join(StateRoot(root).snapshots, ".kind")) as f:
            kind = f.read().strip()
    except OSError:
        return None
    if kind not in KINDS:
        return None
    snapshots = _SNAPSHOTTERS[kind](root)
    snapshots.judge = False
    return snapshots


def probe(directory: str, kind: str | None = None) -> str:
    """The first kind (of ``kind`` alone, if given) whose mounts work with upper dirs in ``directory``."""
    from bake.worker import fusesnapshot

    works: dict[str, Callable[[str], bool]] = {"overlay": overlay_supported, "fuse-overlayfs": fusesnapshot.supported,
                                               "copy": _anywhere}
    for candidate in KINDS if kind is None else (kind,):
        if works[candidate](directory):
            return candidate
    raise SnapshotError(f"BAKE_SNAPSHOTTER={kind}: such snapshots cannot be mounted here"
                        + (" (is fuse-overlayfs installed, and /dev/fuse usable?)" if kind == "fuse-overlayfs" else ""))


def _anywhere(directory: str) -> bool:
    return True  # copies need nothing of the filesystem


def snapshot_kind(snapshots: str, probe: Callable[[str, str | None], str], prefer: str | None = None) -> str:
    """One of ``KINDS``: the recorded kind, else what existing snapshots are (a copy snapshot has a
    ``full`` tree), else what ``probe`` finds (only ``prefer``, when given) — recorded only where it
    can be trusted: as root (in a user namespace or not)."""
    if prefer is not None and prefer not in KINDS:
        raise SnapshotError(f"BAKE_SNAPSHOTTER={prefer} (expected one of {', '.join(KINDS)})")
    marker = os.path.join(snapshots, ".kind")
    with contextlib.suppress(OSError):
        with open(marker) as f:
            kind = f.read().strip()
        if kind in KINDS:
            return kind
    existing = [e for e in (os.listdir(snapshots) if os.path.isdir(snapshots) else []) if e.isdigit()]
    if existing:  # a root older than the record; fuse-overlayfs roots always have one
        kind = "copy" if any(os.path.isdir(os.path.join(snapshots, e, "full")) for e in existing) else "overlay"
    else:
        kind = probe(snapshots, prefer)
        if os.geteuid() != 0:
            return kind  # an ordinary user's probe says nothing about what root (or its namespace) can mount
    with contextlib.suppress(OSError):
        os.makedirs(snapshots, exist_ok=True)
        write_atomic(marker, kind.encode())
    return kind


def _fuse(root: str) -> Snapshotter:
    from bake.worker.fusesnapshot import FuseSnapshotter

    return FuseSnapshotter(root)


_SNAPSHOTTERS: dict[str, Callable[[str], Snapshotter]] = {"overlay": Snapshotter, "fuse-overlayfs": _fuse,
                                                           "copy": CopySnapshotter}
