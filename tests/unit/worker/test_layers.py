"""Layers: an upper dir becomes a deterministic tar with whiteouts; applying it is safe."""

from __future__ import annotations

import io
import os
import stat
import tarfile
from pathlib import Path

import pytest

from bake.worker.differ import layer_bytes
from bake.worker.errors import UnsafeArchiveError
from bake.worker.unpack import apply_layer


def make_upper(root: Path) -> Path:
    up = root / "upper"
    (up / "etc").mkdir(parents=True)
    (up / "etc" / "conf").write_text("new\n")
    (up / "bin").mkdir()
    (up / "bin" / "tool").write_text("#!/bin/sh\n")
    os.chmod(up / "bin" / "tool", 0o755)
    os.link(up / "bin" / "tool", up / "bin" / "tool-alias")
    os.symlink("tool", up / "bin" / "link")
    os.mknod(up / "etc" / "gone", stat.S_IFCHR | 0o000, os.makedev(0, 0))  # overlay whiteout
    (up / "cache").mkdir()
    os.setxattr(up / "cache", "user.overlay.opaque", b"y")
    (up / "cache" / "fresh").write_text("x")
    (up / "mnt-stub").mkdir()
    return up


def names(data: bytes) -> list[str]:
    with tarfile.open(fileobj=io.BytesIO(data)) as t:
        return [m.name for m in t.getmembers()]


def test_upper_dir_becomes_a_layer(tmp_path: Path) -> None:
    up = make_upper(tmp_path)
    data = layer_bytes(str(up), exclude={"mnt-stub"})
    assert names(data) == [
        "bin", "bin/link", "bin/tool", "bin/tool-alias", "cache", "cache/.wh..wh..opq", "cache/fresh",
        "etc", "etc/conf", "etc/.wh.gone",
    ]
    with tarfile.open(fileobj=io.BytesIO(data)) as t:
        alias = t.getmember("bin/tool-alias")
        assert alias.islnk() and alias.linkname == "bin/tool"
        assert t.getmember("bin/link").linkname == "tool"
        assert all(m.uname == "" for m in t.getmembers())


def test_layers_are_deterministic_and_clamped(tmp_path: Path) -> None:
    up = make_upper(tmp_path)
    assert layer_bytes(str(up)) == layer_bytes(str(up))
    clamped = layer_bytes(str(up), source_date_epoch=1000)
    with tarfile.open(fileobj=io.BytesIO(clamped)) as t:
        assert {m.mtime for m in t.getmembers()} == {1000}


def test_apply_honours_whiteouts_and_opaque_dirs(tmp_path: Path) -> None:
    up = make_upper(tmp_path)
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    (root / "etc" / "gone").write_text("old")
    (root / "etc" / "kept").write_text("kept")
    (root / "cache").mkdir()
    (root / "cache" / "stale").write_text("stale")
    apply_layer(io.BytesIO(layer_bytes(str(up))), str(root))
    assert not (root / "etc" / "gone").exists() and (root / "etc" / "kept").read_text() == "kept"
    assert sorted(os.listdir(root / "cache")) == ["fresh"]
    assert (root / "etc" / "conf").read_text() == "new\n"
    assert os.stat(root / "bin" / "tool").st_ino == os.stat(root / "bin" / "tool-alias").st_ino
    assert os.readlink(root / "bin" / "link") == "tool"
    assert stat.S_IMODE(os.stat(root / "bin" / "tool").st_mode) == 0o755


def hostile(entries: list[tuple[str, str, str]]) -> io.BytesIO:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as t:
        for kind, name, value in entries:
            info = tarfile.TarInfo(name)
            if kind == "file":
                info.size = len(value)
                t.addfile(info, io.BytesIO(value.encode()))
            elif kind == "sym":
                info.type, info.linkname = tarfile.SYMTYPE, value
                t.addfile(info)
            else:
                info.type, info.linkname = tarfile.LNKTYPE, value
                t.addfile(info)
    buf.seek(0)
    return buf


def test_entries_cannot_escape_the_root(tmp_path: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    outside = tmp_path / "outside"
    outside.mkdir()
    apply_layer(hostile([
        ("file", "../escaped", "x"),
        ("file", "/abs", "y"),
        ("sym", "link", str(outside)),
        ("file", "link/planted", "z"),
        ("sym", "rel", "../../.."),
        ("file", "rel/deep", "w"),
    ]), str(root))
    assert (root / "escaped").read_text() == "x" and (root / "abs").read_text() == "y"
    assert list(outside.iterdir()) == []  # the symlink was resolved inside the root
    assert (root / str(outside).lstrip("/") / "planted").read_text() == "z"
    assert (root / "deep").read_text() == "w"
    with pytest.raises(UnsafeArchiveError, match="not in the root"):
        apply_layer(hostile([("link", "shadow", "/etc/shadow")]), str(root))


def test_stub_cleanup_never_follows_links_out_of_the_rootfs(tmp_path: Path) -> None:
    from bake.worker.executor import _remove_stubs
    from bake.worker.inroot import Root

    host = tmp_path / "host"
    host.mkdir()
    (host / "precious").write_text("")  # empty, like a stub would be
    rootfs = tmp_path / "rootfs"
    rootfs.mkdir()
    os.symlink(str(host), rootfs / "run")  # planted by a step
    with Root(str(rootfs)) as root:
        _remove_stubs(root, ("run/precious",))
    assert (host / "precious").exists()
