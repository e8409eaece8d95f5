"""Copy snapshots record a commit as overlay would: the changed entries of the tree, and deletions as
0/0 character-device whiteouts. The diff of two trees, then the snapshot lifecycle (no mounts)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from bake.worker.copysnapshot import CopySnapshotter, diff_trees

pytestmark = pytest.mark.root  # whiteouts are character devices: mknod needs CAP_MKNOD


def listing(root: Path) -> dict[str, str]:
    """``path → kind`` of every entry below ``root`` (``whiteout``, ``dir``, ``link→target``, or the text)."""
    out = {}
    for d, dirs, names in os.walk(root):
        for name in dirs + names:
            full = os.path.join(d, name)
            rel = os.path.relpath(full, root)
            st = os.lstat(full)
            if stat.S_ISCHR(st.st_mode) and st.st_rdev == 0:
                out[rel] = "whiteout"
            elif stat.S_ISLNK(st.st_mode):
                out[rel] = "link→" + os.readlink(full)
            elif stat.S_ISDIR(st.st_mode):
                out[rel] = "dir"
            else:
                out[rel] = Path(full).read_text()
    return out


def tree(root: Path, entries: dict[str, str]) -> Path:
    """``path → text``; ``dir`` makes a directory, ``link→t`` a symlink."""
    root.mkdir(parents=True)
    for rel, what in entries.items():
        full = root / rel
        full.parent.mkdir(parents=True, exist_ok=True)
        if what == "dir":
            full.mkdir(exist_ok=True)
        elif what.startswith("link→"):
            os.symlink(what[len("link→"):], full)
        else:
            full.write_text(what)
    return root


def same_times(new: Path, old: Path) -> None:
    """Give every entry of ``new`` that ``old`` has the time it has there (a copy keeps times)."""
    for d, dirs, names in os.walk(new):
        for name in dirs + names:
            rel = os.path.relpath(os.path.join(d, name), new)
            if os.path.lexists(old / rel):
                st = os.lstat(old / rel)
                os.utime(os.path.join(d, name), ns=(st.st_atime_ns, st.st_mtime_ns), follow_symlinks=False)


def test_a_tree_without_a_parent_is_all_changes(tmp_path: Path) -> None:
    new = tree(tmp_path / "new", {"etc/conf": "x", "bin/sh": "link→busybox"})
    (tmp_path / "out").mkdir()
    diff_trees(None, str(new), str(tmp_path / "out"))
    assert listing(tmp_path / "out") == {"etc": "dir", "etc/conf": "x", "bin": "dir", "bin/sh": "link→busybox"}


def test_only_what_changed_is_recorded_and_deletions_are_whiteouts(tmp_path: Path) -> None:
    before = {"etc/keep": "same", "etc/edit": "old", "etc/gone": "bye", "lib/old/a": "a", "bin/sh": "link→busybox",
              "bin/tool": "link→old", "swap": "a file"}
    old = tree(tmp_path / "old", before)
    new = tree(tmp_path / "new", {**{k: v for k, v in before.items() if not k.startswith("lib/old")},
                                  "lib/old": "dir", "etc/edit": "newer", "bin/tool": "link→new", "swap": "dir",
                                  "etc/added": "hi"})
    os.remove(new / "etc" / "gone")
    same_times(new, old)
    os.utime(new / "etc" / "edit", ns=(1, 1))  # edited: another size and time
    out = tmp_path / "out"
    out.mkdir()
    diff_trees(str(old), str(new), str(out))
    assert listing(out) == {
        "etc": "dir", "etc/edit": "newer", "etc/added": "hi", "etc/gone": "whiteout",
        "lib": "dir", "lib/old": "dir", "lib/old/a": "whiteout",
        "bin": "dir", "bin/tool": "link→new",
        "swap": "dir",  # a file that became a directory: all of it
    }


def test_a_directory_whose_mode_changed_is_recorded_without_its_unchanged_entries(tmp_path: Path) -> None:
    old = tree(tmp_path / "old", {"srv/data": "same"})
    new = tree(tmp_path / "new", {"srv/data": "same"})
    same_times(new, old)
    os.chmod(new / "srv", 0o700)
    out = tmp_path / "out"
    out.mkdir()
    diff_trees(str(old), str(new), str(out))
    assert listing(out) == {"srv": "dir"}
    assert stat.S_IMODE(os.stat(out / "srv").st_mode) == 0o700


def test_a_changed_device_node_is_recorded(tmp_path: Path) -> None:
    old = tree(tmp_path / "old", {"dev": "dir"})
    new = tree(tmp_path / "new", {"dev": "dir"})
    os.mknod(old / "dev" / "null", stat.S_IFCHR | 0o666, os.makedev(1, 3))
    os.mknod(new / "dev" / "null", stat.S_IFCHR | 0o666, os.makedev(1, 5))
    same_times(new, old)
    out = tmp_path / "out"
    out.mkdir()
    diff_trees(str(old), str(new), str(out))
    assert os.lstat(out / "dev" / "null").st_rdev == os.makedev(1, 5)


def test_snapshots_copy_their_parent_and_commit_their_changes(tmp_path: Path) -> None:
    snaps = CopySnapshotter(str(tmp_path))
    base = snaps.prepare(None)
    full = Path(snaps.dir, base, "full")
    (full / "etc").mkdir()
    (full / "etc" / "os").write_text("base")
    (full / "etc" / "tmp").write_text("temporary")
    snaps.commit(base)
    assert listing(Path(snaps.upper(base))) == {"etc": "dir", "etc/os": "base", "etc/tmp": "temporary"}
    child = snaps.prepare(base)
    child_full = Path(snaps.dir, child, "full")
    assert listing(child_full) == listing(full)  # a whole copy of the parent's tree
    (child_full / "etc" / "tmp").unlink()
    (child_full / "app").write_text("built")
    assert snaps.commit(child) == child and snaps.committed(child)
    assert listing(Path(snaps.upper(child))) == {"etc": "dir", "etc/tmp": "whiteout", "app": "built"}


def test_a_copy_snapshot_without_its_full_tree_is_set_aside(tmp_path: Path) -> None:
    snaps = CopySnapshotter(str(tmp_path))
    sid = snaps.commit(snaps.prepare(None))
    os.rmdir(os.path.join(snaps.dir, sid, "full"))
    fresh = CopySnapshotter(str(tmp_path))
    assert not fresh.committed(sid)
    assert any("lost its full directory" in r for r in fresh.repaired)
