"""Applying a layer onto a tree that earlier layers filled: what replaces what (a directory and a
file of the same name, a link, a whiteout of a whole directory), what each entry keeps (mode,
owner, time, xattrs), special files, and what is refused."""

from __future__ import annotations

import io
import os
import stat
import tarfile
import tempfile
from pathlib import Path

import pytest

from bake.worker.errors import UnsafeArchiveError
from bake.worker.inroot import Root
from bake.worker.unpack import apply_layer
from bake.worker.writes import copy_data


def layer(*members: tarfile.TarInfo | tuple[tarfile.TarInfo, bytes]) -> io.BytesIO:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as t:
        for m in members:
            if isinstance(m, tuple):
                info, data = m
                info.size = len(data)
                t.addfile(info, io.BytesIO(data))
            else:
                t.addfile(m)
    buf.seek(0)
    return buf


def entry(name: str, kind: bytes = tarfile.REGTYPE, mode: int = 0o644, **fields: object) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.mode, info.mtime = kind, mode, 1_600_000_000
    for key, value in fields.items():
        setattr(info, key, value)
    return info


def test_a_directory_replaces_a_file_and_a_file_replaces_a_directory_tree(tmp_path: Path) -> None:
    (tmp_path / "was-file").write_text("old")
    (tmp_path / "was-dir" / "sub").mkdir(parents=True)
    (tmp_path / "was-dir" / "sub" / "f").write_text("old")
    (tmp_path / "merged").mkdir()
    (tmp_path / "merged" / "lower").write_text("kept")
    written = apply_layer(layer(entry("was-file", tarfile.DIRTYPE, 0o755), (entry("was-dir"), b"now a file"),
                                entry("merged", tarfile.DIRTYPE, 0o700), (entry("merged/upper"), b"new")),
                          str(tmp_path))
    assert written == ["was-file", "was-dir", "merged", "merged/upper"]
    assert (tmp_path / "was-file").is_dir() and (tmp_path / "was-dir").read_text() == "now a file"
    assert sorted(os.listdir(tmp_path / "merged")) == ["lower", "upper"]  # directories merge
    assert stat.S_IMODE(os.stat(tmp_path / "merged").st_mode) == 0o700  # … and take the layer's mode


def test_a_whiteout_removes_a_whole_directory_and_an_opaque_root_keeps_only_this_layer(tmp_path: Path) -> None:
    (tmp_path / "cache" / "deep").mkdir(parents=True)
    (tmp_path / "cache" / "deep" / "x").write_text("x")
    (tmp_path / "other").write_text("lower")
    apply_layer(layer(entry(".wh.cache"), entry(".wh.not-there")), str(tmp_path))
    assert sorted(os.listdir(tmp_path)) == ["other"]
    apply_layer(layer((entry("fresh"), b"upper"), entry(".wh..wh..opq")), str(tmp_path))
    assert sorted(os.listdir(tmp_path)) == ["fresh"]  # the layer's own entry stays
    apply_layer(layer(entry("missing/.wh..wh..opq")), str(tmp_path))  # an opaque marker of nothing
    assert sorted(os.listdir(tmp_path)) == ["fresh"]


def test_modes_times_and_xattrs_are_kept_on_the_entry_not_through_a_link(tmp_path: Path) -> None:
    target = tmp_path / "target"
    target.write_text("t")
    os.chmod(target, 0o600)
    apply_layer(layer((entry("tool", mode=0o4755), b"#!/bin/sh"), entry("link", tarfile.SYMTYPE, 0o777,
                                                                        linkname="target"),
                      (entry("tagged", pax_headers={"SCHILY.xattr.user.origin": "layer"}), b"x")),
                str(tmp_path))
    st = os.stat(tmp_path / "tool")
    assert stat.S_IMODE(st.st_mode) == 0o4755 and st.st_mtime == 1_600_000_000
    assert os.lstat(tmp_path / "link").st_mtime == 1_600_000_000
    assert stat.S_IMODE(os.stat(target).st_mode) == 0o600  # a link's mode is not set on its target
    try:
        assert os.getxattr(tmp_path / "tagged", "user.origin") == b"layer"
    except OSError:
        pytest.skip("this filesystem has no user xattrs")


@pytest.mark.skipif(os.geteuid() != 0, reason="owners and device nodes need root")
def test_owners_and_device_nodes_as_root(tmp_path: Path) -> None:
    apply_layer(layer((entry("owned", uid=1000, gid=50), b"x"), entry("null", tarfile.CHRTYPE, 0o666, devmajor=1,
                                                                       devminor=3),
                      entry("fifo", tarfile.FIFOTYPE)), str(tmp_path))
    st = os.stat(tmp_path / "owned")
    assert (st.st_uid, st.st_gid) == (1000, 50)
    null = os.lstat(tmp_path / "null")
    assert stat.S_ISCHR(null.st_mode) and null.st_rdev == os.makedev(1, 3)
    assert stat.S_ISFIFO(os.lstat(tmp_path / "fifo").st_mode)


def test_a_hard_link_to_a_missing_target_and_an_unknown_entry_type_are_refused(tmp_path: Path) -> None:
    with pytest.raises(UnsafeArchiveError, match="hard link h -> nothing: target not in the root"):
        apply_layer(layer(entry("h", tarfile.LNKTYPE, linkname="nothing")), str(tmp_path))
    with pytest.raises(UnsafeArchiveError, match="unsupported entry type for odd"):
        apply_layer(layer(entry("odd", b"Z")), str(tmp_path))


def test_a_file_is_copied_across_filesystems(tmp_path: Path) -> None:
    shm = Path("/dev/shm")
    if not shm.is_dir():
        pytest.skip("no /dev/shm")
    data = os.urandom(3 << 20)
    with Root(str(tmp_path)) as dst, tempfile.TemporaryDirectory(dir=shm) as d:
        Path(d, "src").write_bytes(data)
        with Root(d) as src:
            copy_data(src.fd, "src", dst.fd, "copy")
    assert (tmp_path / "copy").read_bytes() == data
    assert stat.S_IMODE(os.stat(tmp_path / "copy").st_mode) == 0o600  # attributes are the caller's to set


def test_an_entry_after_its_directory_became_a_link_goes_where_the_link_leads_inside_the_root(
        tmp_path: Path) -> None:
    """Directories are resolved once for the entries that follow; a link or a replacement in between
    makes them resolved again, so the later entry lands where the container would see it."""
    root = tmp_path / "root"
    root.mkdir()
    apply_layer(layer(entry("d", tarfile.DIRTYPE, 0o755), (entry("d/first"), b"1"),
                      entry("d", tarfile.SYMTYPE, 0o777, linkname="/elsewhere"),
                      entry("elsewhere", tarfile.DIRTYPE, 0o755), (entry("d/second"), b"2")), str(root))
    assert os.readlink(root / "d") == "/elsewhere" and (root / "elsewhere" / "second").read_bytes() == b"2"
    assert not (tmp_path / "elsewhere").exists()  # the absolute link stayed inside the root
    with pytest.raises(UnsafeArchiveError, match="Not a directory"):  # not into the directory it replaced
        apply_layer(layer(entry("e", tarfile.DIRTYPE, 0o755), (entry("e/x"), b"x"), (entry("e"), b"a file now"),
                          (entry("e/y"), b"y")), str(root))
    assert (root / "e").read_bytes() == b"a file now"


def test_a_blob_is_read_to_its_end_and_its_diff_id_checked(tmp_path: Path) -> None:
    import gzip
    import hashlib

    import zstandard

    from bake.worker.errors import SourceError
    from bake.worker.unpack import apply_blob

    tar = layer((entry("f"), b"data")).getvalue()
    diff_id = "sha256:" + hashlib.sha256(tar).hexdigest()
    half = len(tar) // 2
    two_members = gzip.compress(tar[:half], mtime=0) + gzip.compress(tar[half:], mtime=0)
    two_frames = zstandard.ZstdCompressor().compress(tar[:half]) + zstandard.ZstdCompressor().compress(tar[half:])
    for n, blob in enumerate((tar, gzip.compress(tar, mtime=0), two_members, two_frames)):  # known by their bytes
        (tmp_path / str(n)).mkdir()
        reader = io.BytesIO(blob + b"\0" * 4096 if n == 0 else blob)  # a plain tar's trailing zeros count too
        apply_blob(reader, str(tmp_path / str(n)), diff_id=diff_id if n else None)
        assert (tmp_path / str(n) / "f").read_bytes() == b"data" and reader.read() == b""
    (tmp_path / "lied").mkdir()
    with pytest.raises(SourceError, match="not what its image config says"):
        apply_blob(io.BytesIO(tar), str(tmp_path / "lied"), diff_id="sha256:" + "0" * 64)
