"""The differ beyond test_layers.py: directories overlay only copied up are left out when compared
with the lower view (as BuildKit's overlay differ does), special files and xattrs are recorded, the
tar ends as Go's does, and what a layer cannot hold is refused."""

from __future__ import annotations

import io
import os
import socket
import stat
import tarfile
from pathlib import Path

import pytest

from bake.worker.differ import layer_bytes


def members(data: bytes) -> dict[str, tarfile.TarInfo]:
    with tarfile.open(fileobj=io.BytesIO(data)) as t:
        return {m.name: m for m in t.getmembers()}


def same_meta(dst: Path, src: Path) -> None:
    st = os.lstat(src)
    os.chmod(dst, stat.S_IMODE(st.st_mode))
    os.utime(dst, ns=(st.st_atime_ns, st.st_mtime_ns))


def test_directories_only_copied_up_are_left_out(tmp_path: Path) -> None:
    lower, upper = tmp_path / "lower", tmp_path / "upper"
    for d in ("etc/apt", "usr/lib", "var"):
        (lower / d).mkdir(parents=True)
        (upper / d).mkdir(parents=True)
    (upper / "etc" / "apt" / "sources.list").write_text("new")  # a change below: etc and etc/apt are needed
    os.chmod(upper / "var", 0o700)  # its own metadata changed: recorded
    for d in ("usr/lib", "usr", "etc/apt", "etc"):  # children first: a parent's time is set last
        same_meta(upper / d, lower / d)
    names = list(members(layer_bytes(str(upper), lower=str(lower))))
    assert names == ["etc", "etc/apt", "etc/apt/sources.list", "var"]  # usr and usr/lib were copied up only
    assert list(members(layer_bytes(str(upper))))[:5] == ["etc", "etc/apt", "etc/apt/sources.list", "usr",
                                                          "usr/lib"]  # without a lower view: all of it


def test_a_directory_whose_xattrs_differ_from_below_is_kept(tmp_path: Path) -> None:
    lower, upper = tmp_path / "lower", tmp_path / "upper"
    (lower / "d").mkdir(parents=True)
    (upper / "d").mkdir(parents=True)
    try:
        os.setxattr(upper / "d", "user.tag", b"new")
    except OSError:
        pytest.skip("this filesystem has no user xattrs")
    same_meta(upper / "d", lower / "d")
    got = members(layer_bytes(str(upper), lower=str(lower)))
    assert list(got) == ["d"] and got["d"].pax_headers["SCHILY.xattr.user.tag"] == "new"


def test_special_files_are_recorded(tmp_path: Path) -> None:
    upper = tmp_path / "upper"
    upper.mkdir()
    os.mkfifo(upper / "fifo")
    if os.geteuid() == 0:
        os.mknod(upper / "null", stat.S_IFCHR | 0o666, os.makedev(1, 3))
        os.mknod(upper / "loop", stat.S_IFBLK | 0o660, os.makedev(7, 0))
    got = members(layer_bytes(str(upper)))
    assert got["fifo"].isfifo()
    if os.geteuid() == 0:
        assert got["null"].ischr() and (got["null"].devmajor, got["null"].devminor) == (1, 3)
        assert got["loop"].isblk() and (got["loop"].devmajor, got["loop"].devminor) == (7, 0)


def test_a_socket_left_by_a_step_is_left_out_as_buildkit_does(tmp_path: Path) -> None:
    upper = tmp_path / "upper"
    (upper / "run").mkdir(parents=True)
    (upper / "run" / "pid").write_text("1")
    with socket.socket(socket.AF_UNIX) as s:
        s.bind(str(upper / "run" / "daemon.sock"))
        assert list(members(layer_bytes(str(upper)))) == ["run", "run/pid"]


def test_overlay_xattrs_stay_out_and_the_tar_ends_after_its_zero_blocks(tmp_path: Path) -> None:
    upper = tmp_path / "upper"
    upper.mkdir()
    (upper / "f").write_text("x")
    try:
        os.setxattr(upper / "f", "user.overlay.origin", b"o")
        os.setxattr(upper / "f", "user.kept", b"k")
    except OSError:
        pytest.skip("this filesystem has no user xattrs")
    data = layer_bytes(str(upper))
    assert members(data)["f"].pax_headers == {"SCHILY.xattr.user.kept": "k"}
    assert len(data) % 512 == 0 and data.endswith(b"\0" * 1024) and len(data) < 10240  # no 10 KiB record padding
