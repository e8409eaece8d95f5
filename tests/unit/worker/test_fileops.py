"""COPY/ADD and file actions on real directories, with Docker's rules."""

from __future__ import annotations

import io
import os
import stat
import tarfile
from pathlib import Path

import pytest

from bake.graph.ops import Copy, Mkdir, Mkfile, Rm
from bake.worker.errors import FileOpError
from bake.worker.fileops import apply_actions, chmod


@pytest.fixture
def trees(tmp_path: Path) -> tuple[Path, Path]:
    ctx = tmp_path / "ctx"
    (ctx / "src" / "pkg").mkdir(parents=True)
    (ctx / "src" / "main.go").write_text("main")
    (ctx / "src" / "pkg" / "lib.go").write_text("lib")
    (ctx / "src" / "README.md").write_text("docs")
    (ctx / "a.txt").write_text("a")
    (ctx / "b.txt").write_text("b")
    os.symlink("/etc", ctx / "evil")
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as t:
        data = b"from archive"
        info = tarfile.TarInfo("inner/file")
        info.size = len(data)
        t.addfile(info, io.BytesIO(data))
    (ctx / "bundle.tar.gz").write_bytes(buf.getvalue())
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    (root / "etc" / "passwd").write_text("root:x:0:0::/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\n")
    (root / "etc" / "group").write_text("root:x:0:\napp:x:1000:\n")
    return ctx, root


def test_copy_rules(trees: tuple[Path, Path]) -> None:
    ctx, root = trees
    apply_actions(str(root), (
        Copy(0, "a.txt", "/app/"),
        Copy(0, "src", "/srcdir", dir_contents_only=True, exclude=("*.md",)),
        Copy(0, "*.txt", "/txt/"),
        Copy(0, "b.txt", "/renamed.txt"),
        Copy(0, "src/pkg/lib.go", "/p/", parents=True),
    ), [str(ctx)])
    assert (root / "app" / "a.txt").read_text() == "a"
    assert sorted(os.listdir(root / "srcdir")) == ["main.go", "pkg"]  # contents, README excluded
    assert sorted(os.listdir(root / "txt")) == ["a.txt", "b.txt"]
    assert (root / "renamed.txt").read_text() == "b"
    assert (root / "p" / "src" / "pkg" / "lib.go").read_text() == "lib"


def test_chown_names_come_from_the_destination_and_chmod_modes(trees: tuple[Path, Path]) -> None:
    ctx, root = trees
    apply_actions(str(root), (Copy(0, "a.txt", "/o/a.txt", chown="app:app", chmod="u+x,g-r"),
                              Copy(0, "b.txt", "/o/b.txt", chmod="640")), [str(ctx)])
    st = os.stat(root / "o" / "a.txt")
    assert (st.st_uid, st.st_gid) == (1000, 1000)
    assert stat.S_IMODE(st.st_mode) == (0o644 | 0o100) & ~0o040
    assert stat.S_IMODE(os.stat(root / "o" / "b.txt").st_mode) == 0o640
    assert chmod("a=rX", 0o600, is_dir=True) == 0o555 and chmod("go-rwx", 0o777, False) == 0o700
    with pytest.raises(FileOpError, match="invalid chmod"):
        chmod("u+q", 0o644, False)


def test_archives_unpack_and_sources_stay_inside(trees: tuple[Path, Path]) -> None:
    ctx, root = trees
    apply_actions(str(root), (Copy(0, "bundle.tar.gz", "/opt/", unpack=True),), [str(ctx)])
    assert (root / "opt" / "inner" / "file").read_text() == "from archive"
    with pytest.raises(FileOpError, match="not found"):
        apply_actions(str(root), (Copy(0, "evil/passwd", "/stolen"),), [str(ctx)])  # /etc of the host is not reachable
    with pytest.raises(FileOpError, match="matched nothing"):
        apply_actions(str(root), (Copy(0, "*.nope", "/x/"),), [str(ctx)])


def test_mkdir_mkfile_rm(trees: tuple[Path, Path]) -> None:
    _, root = trees
    apply_actions(str(root), (
        Mkdir("/a/b/c", 0o750, make_parents=True),
        Mkfile("/a/conf", b"x=1\n", 0o600, chown="app"),
        Rm("/etc/group"),
        Rm("/missing", allow_not_found=True),
    ), [])
    assert stat.S_IMODE(os.stat(root / "a" / "b" / "c").st_mode) == 0o750
    assert (root / "a" / "conf").read_bytes() == b"x=1\n" and os.stat(root / "a" / "conf").st_uid == 1000
    assert not (root / "etc" / "group").exists()
    with pytest.raises(FileOpError, match="no such file"):
        apply_actions(str(root), (Rm("/missing"),), [])
