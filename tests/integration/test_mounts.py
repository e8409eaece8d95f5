"""Mounts by system call (worker/mounts.py) do what mount(8) and umount(8) did for snapshots."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from bake.worker import mounts

pytestmark = pytest.mark.root


def test_a_bind_shows_the_source_and_a_read_only_bind_refuses_writes(tmp_path: Path) -> None:
    src, rw, ro = tmp_path / "src", tmp_path / "rw", tmp_path / "ro"
    for d in (src, rw, ro):
        d.mkdir()
    (src / "f").write_text("hello")
    mounts.bind(str(src), str(rw))
    mounts.bind(str(src), str(ro), readonly=True)
    try:
        assert (ro / "f").read_text() == "hello"
        (rw / "g").write_text("through the bind")
        assert (src / "g").read_text() == "through the bind"
        with pytest.raises(OSError) as e:
            (ro / "h").write_text("no")
        assert e.value.errno == errno.EROFS
        assert os.statvfs(ro).f_flag & os.ST_RDONLY and not os.statvfs(rw).f_flag & os.ST_RDONLY
    finally:
        mounts.unmount(str(rw))
        mounts.unmount(str(ro))
    assert os.listdir(ro) == [] and os.listdir(rw) == []  # unmounted: the empty mount points again


def test_an_overlay_merges_lowers_under_an_upper(tmp_path: Path) -> None:
    low1, low2, upper, work, merged = (tmp_path / n for n in ("low1", "low2", "upper", "work", "merged"))
    for d in (low1, low2, upper, work, merged):
        d.mkdir()
    (low1 / "a").write_text("nearest")
    (low2 / "a").write_text("hidden")
    (low2 / "b").write_text("below")
    mounts.overlay(f"lowerdir={low1}:{low2},upperdir={upper},workdir={work}", str(merged))
    try:
        assert (merged / "a").read_text() == "nearest" and (merged / "b").read_text() == "below"
        (merged / "c").write_text("new")
    finally:
        mounts.unmount(str(merged))
    assert (upper / "c").read_text() == "new" and not (low1 / "c").exists()


def test_failures_name_the_target_and_the_errno(tmp_path: Path) -> None:
    with pytest.raises(OSError) as e:
        mounts.bind(str(tmp_path / "missing"), str(tmp_path))
    assert e.value.errno == errno.ENOENT and e.value.filename == str(tmp_path)
    with pytest.raises(OSError) as e:
        mounts.unmount(str(tmp_path))
    assert e.value.errno == errno.EINVAL  # not a mount point


def test_an_unmount_waits_for_a_mount_that_is_let_go_of_soon(tmp_path: Path) -> None:
    # as when a container that just exited still holds its rootfs while its namespace goes away
    import threading

    src, target = tmp_path / "src", tmp_path / "target"
    src.mkdir()
    target.mkdir()
    (src / "f").write_text("held")
    mounts.bind(str(src), str(target))
    holder = open(target / "f")  # noqa: SIM115 - closed by the timer below
    timer = threading.Timer(0.1, holder.close)
    timer.start()
    try:
        mounts.unmount(str(target))
    finally:
        timer.join()
    assert holder.closed and os.listdir(target) == []


def test_the_overlay_probe_mounts_by_system_call_and_leaves_nothing(tmp_path: Path) -> None:
    from bake.worker.copysnapshot import overlay_supported

    assert overlay_supported(str(tmp_path / "snapshots"))
    assert os.listdir(tmp_path / "snapshots") == []  # unmounted and removed
