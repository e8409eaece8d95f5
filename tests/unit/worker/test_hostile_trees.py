"""File operations on trees that strangers made: every link a base image, a tarball or a RUN
planted resolves inside the build's root, so nothing outside it is ever read or written.

Each case runs twice — with the kernel's ``openat2(RESOLVE_IN_ROOT)`` and with the ``O_NOFOLLOW``
walk used where the kernel lacks it — and checks a canary directory outside the root.
"""

from __future__ import annotations

import hashlib
import io
import os
import stat
import tarfile
from pathlib import Path

import pytest

from bake.graph.ops import Copy, Mkdir, Mkfile, Rm
from bake.worker.errors import FileOpError, UnsafeArchiveError, UnsafePathError
from bake.worker.fileops import apply_actions
from bake.worker.inroot import Root
from bake.worker.unpack import apply_layer
from tests.unit.worker.resolvers import resolver  # noqa: F401  (autouse: every test on both resolvers)


class Canary:
    """A host directory a hostile tree points at; it must never change."""

    def __init__(self, path: Path) -> None:
        self.dir = path
        path.mkdir()
        (path / "victim").write_text("precious")
        os.chmod(path / "victim", 0o600)
        self.before = self.snapshot()

    def snapshot(self) -> dict[str, tuple[int, str]]:
        return {p.name: (stat.S_IMODE(p.lstat().st_mode), hashlib.sha256(p.read_bytes()).hexdigest())
                for p in self.dir.iterdir()} | {".": (stat.S_IMODE(self.dir.stat().st_mode), "")}

    def intact(self) -> bool:
        return self.snapshot() == self.before


@pytest.fixture
def canary(tmp_path: Path) -> Canary:
    return Canary(tmp_path / "host")


@pytest.fixture
def root(tmp_path: Path) -> Path:
    r = tmp_path / "root"
    r.mkdir()
    return r


@pytest.fixture
def ctx(tmp_path: Path) -> Path:
    c = tmp_path / "ctx"
    (c / "tree" / "sub").mkdir(parents=True)
    (c / "tree" / "sub" / "x").write_text("from the context")
    (c / "tree" / "top").write_text("top")
    (c / "file").write_text("one file")
    return c


def inside(root: Path, host: Path) -> Path:
    """Where an absolute link to ``host`` lands inside ``root``."""
    return root / str(host).lstrip("/")


def test_a_planted_directory_link_is_not_copied_through(root: Path, ctx: Path, canary: Canary) -> None:
    (root / "app").mkdir()
    os.symlink(canary.dir, root / "app" / "sub")  # RUN mkdir -p /app && ln -s /hostdir /app/sub
    with pytest.raises(FileOpError, match="cannot copy to non-directory: /app/sub"):
        apply_actions(str(root), (Copy(0, "tree", "/app/", dir_contents_only=True, chmod="777"),), [str(ctx)])
    assert canary.intact() and not (canary.dir / "x").exists()


@pytest.mark.parametrize("link", ["../../../../../host", "../../../../../../../../..{host}", "{host}"])
def test_relative_and_absolute_links_in_the_destination_parents_stay_inside(
        root: Path, ctx: Path, canary: Canary, link: str) -> None:
    (root / "app").mkdir()
    os.symlink(link.format(host=canary.dir), root / "app" / "sub")
    apply_actions(str(root), (Copy(0, "file", "/app/sub/deeper/", chmod="777"),), [str(ctx)])
    assert canary.intact()
    landed = [p for p in root.rglob("file") if p.is_file()]
    assert len(landed) == 1 and landed[0].read_text() == "one file"
    assert str(landed[0]).startswith(str(root) + "/")


def test_links_to_links_resolve_inside(root: Path, ctx: Path, canary: Canary) -> None:
    os.symlink("/b", root / "a")
    os.symlink(str(canary.dir), root / "b")
    apply_actions(str(root), (Copy(0, "file", "/a/"), Mkdir("/a/made", 0o777, make_parents=True)), [str(ctx)])
    assert canary.intact()
    assert (inside(root, canary.dir) / "file").read_text() == "one file"
    assert (inside(root, canary.dir) / "made").is_dir()


def test_a_link_in_the_base_image_is_not_merged_into(root: Path, ctx: Path, canary: Canary) -> None:
    layer = io.BytesIO()
    with tarfile.open(fileobj=layer, mode="w") as t:
        info = tarfile.TarInfo("app/conf")
        info.type, info.linkname = tarfile.SYMTYPE, str(canary.dir)
        t.addfile(info)
    layer.seek(0)
    apply_layer(layer, str(root))  # a base image whose layer holds app/conf -> /hostdir
    (ctx / "conf").mkdir()
    (ctx / "conf" / "victim").write_text("overwritten")
    with pytest.raises(FileOpError, match="non-directory: /app/conf"):
        apply_actions(str(root), (Copy(0, "/", "/app/", dir_contents_only=True),), [str(ctx)])
    assert canary.intact()


def test_a_file_replaces_a_link_instead_of_writing_through_it(root: Path, ctx: Path, canary: Canary) -> None:
    (root / "app").mkdir()
    os.symlink(canary.dir / "victim", root / "app" / "top")
    apply_actions(str(root), (Copy(0, "tree/top", "/app/", chmod="777"),), [str(ctx)])
    assert canary.intact()
    assert not (root / "app" / "top").is_symlink() and (root / "app" / "top").read_text() == "top"


def test_a_heredoc_written_to_a_planted_link_stays_inside(root: Path, canary: Canary) -> None:
    os.symlink(canary.dir / "victim", root / "v")  # RUN ln -s /victim /v, then COPY <<EOF /v
    apply_actions(str(root), (Mkfile("/v", b"pwned", 0o777),), [])
    assert canary.intact()
    assert (inside(root, canary.dir) / "victim").read_bytes() == b"pwned"  # followed as the container would
    assert os.readlink(root / "v") == str(canary.dir / "victim")


def test_mkdir_chmod_and_rm_through_links_stay_inside(root: Path, canary: Canary) -> None:
    os.symlink(canary.dir, root / "d")
    with pytest.raises(FileOpError, match="no such file"):
        apply_actions(str(root), (Rm("/d/victim"),), [])
    with pytest.raises(FileOpError, match="mkdir /d: No such file"):  # its target's parent is missing
        apply_actions(str(root), (Mkdir("/d", 0o777),), [])
    apply_actions(str(root), (Mkdir("/d", 0o777, make_parents=True), Mkdir("/d/new", 0o777)), [])
    assert canary.intact() and (inside(root, canary.dir) / "new").is_dir()
    apply_actions(str(root), (Rm("/d"),), [])  # the link itself goes, never its target
    assert canary.intact() and not (root / "d").exists()


def test_chown_names_are_read_from_the_roots_own_files(root: Path, ctx: Path, tmp_path: Path) -> None:
    host_passwd = tmp_path / "passwd"
    host_passwd.write_text("app:x:4242:4242::/:/bin/sh\n")
    (root / "etc").mkdir()
    os.symlink(host_passwd, root / "etc" / "passwd")  # would leak the host's users
    # a name the root's own passwd lacks owns as 0 (BuildKit v0.32.2's file ops), never the host's 4242
    apply_actions(str(root), (Copy(0, "file", "/f", chown="app"),), [str(ctx)])
    assert (os.lstat(root / "f").st_uid, os.lstat(root / "f").st_gid) == (0, 0)


def tar_of(*entries: tuple[str, str, str]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as t:
        for kind, name, arg in entries:
            info = tarfile.TarInfo(name)
            if kind == "sym":
                info.type, info.linkname = tarfile.SYMTYPE, arg
                t.addfile(info)
            elif kind == "link":
                info.type, info.linkname = tarfile.LNKTYPE, arg
                t.addfile(info)
            else:
                info.size, info.mode = len(arg), 0o777
                t.addfile(info, io.BytesIO(arg.encode()))
    return buf.getvalue()


def test_add_of_a_tar_that_replaces_its_own_link_with_a_file(root: Path, ctx: Path, canary: Canary) -> None:
    (ctx / "local.tar").write_bytes(tar_of(("sym", "lnk", str(canary.dir / "victim")), ("file", "lnk", "pwned"),
                                           ("sym", "dir", str(canary.dir)), ("file", "dir/new", "pwned")))
    apply_actions(str(root), (Copy(0, "local.tar", "/", unpack=True),), [str(ctx)])
    assert canary.intact() and not (canary.dir / "new").exists()
    assert (root / "lnk").read_text() == "pwned" and not (root / "lnk").is_symlink()


def test_add_of_a_tar_over_a_link_an_earlier_step_planted(root: Path, ctx: Path, canary: Canary) -> None:
    os.symlink(canary.dir / "victim", root / "lnk")
    os.symlink(canary.dir, root / "dir")
    (ctx / "local.tar").write_bytes(tar_of(("file", "lnk", "pwned"), ("file", "dir/victim", "pwned"),
                                           ("file", "../../../../escape", "pwned")))
    apply_actions(str(root), (Copy(0, "local.tar", "/", unpack=True),), [str(ctx)])
    assert canary.intact()
    assert (inside(root, canary.dir) / "victim").read_text() == "pwned"
    assert (root / "escape").read_text() == "pwned"


def test_hard_links_may_only_point_inside(root: Path, ctx: Path, canary: Canary) -> None:
    (ctx / "local.tar").write_bytes(tar_of(("link", "hard", str(canary.dir / "victim"))))
    with pytest.raises(UnsafeArchiveError, match="not in the root"):
        apply_actions(str(root), (Copy(0, "local.tar", "/", unpack=True),), [str(ctx)])
    os.symlink(canary.dir, root / "l")
    (ctx / "local.tar").write_bytes(tar_of(("link", "hard", "l/victim")))  # through a planted link
    with pytest.raises(UnsafeArchiveError, match="not in the root"):
        apply_actions(str(root), (Copy(0, "local.tar", "/", unpack=True),), [str(ctx)])
    assert canary.intact() and os.stat(canary.dir / "victim").st_nlink == 1


def test_copy_from_a_stage_never_reads_through_its_links(root: Path, tmp_path: Path, canary: Canary) -> None:
    stage = tmp_path / "stage"
    stage.mkdir()
    os.symlink(canary.dir, stage / "out")  # COPY --from=stage /out/victim /stolen
    with pytest.raises(FileOpError, match="not found"):
        apply_actions(str(root), (Copy(0, "out/victim", "/stolen"),), [str(stage)])
    apply_actions(str(root), (Copy(0, "out", "/kept", follow_symlinks=False),), [str(stage)])
    assert os.readlink(root / "kept") == str(canary.dir)  # copied as a link, not as the host's files


def test_a_link_swapped_in_after_resolution_is_refused(root: Path, canary: Canary) -> None:
    (root / "a").mkdir()
    (root / "a" / "b").mkdir()
    with Root(str(root)) as r:
        parts = r.canonical("a/b")
        (root / "a" / "b").rmdir()
        (root / "a").rmdir()
        os.symlink(canary.dir, root / "a")  # a concurrent writer swaps a directory for a link
        with pytest.raises(OSError):
            r._walk_open(parts, os.O_PATH, 0)
        with pytest.raises(FileNotFoundError):  # and a fresh resolution stays inside
            r.open("a/victim")
    assert canary.intact()


def test_resolution_rules(root: Path) -> None:
    (root / "real").mkdir()
    os.symlink("/real", root / "abs")
    os.symlink("../../../real", root / "up")
    os.symlink("loop", root / "loop")
    with Root(str(root)) as r:
        assert r.canonical("abs/x") == ["real", "x"] and r.canonical("up/../abs/x") == ["real", "x"]
        assert r.canonical("abs", follow=False) == ["abs"]
        assert r.real("up") == str(root / "real")
        with pytest.raises(UnsafePathError, match="too many levels"):
            r.canonical("loop/x")


def test_the_local_exporter_replaces_links_an_earlier_export_left(tmp_path: Path, canary: Canary) -> None:
    from bake.exporter.local import export_local

    first, second, dest = tmp_path / "first", tmp_path / "second", tmp_path / "out"
    first.mkdir()
    os.symlink(canary.dir, first / "sub")  # a hostile build exports a link…
    os.symlink(canary.dir / "victim", first / "file")
    (second / "sub").mkdir(parents=True)  # …and the next export writes through the same names
    (second / "sub" / "victim").write_text("overwritten")
    (second / "file").write_text("overwritten")
    export_local([("", str(first))], str(dest))
    export_local([("", str(second))], str(dest))
    assert canary.intact()
    assert (dest / "sub" / "victim").read_text() == "overwritten" and not (dest / "sub").is_symlink()
    assert not (dest / "file").is_symlink()


def test_an_entry_below_a_file_is_a_clear_error(root: Path) -> None:
    with pytest.raises(UnsafeArchiveError, match="cannot extract a/b: Not a directory"):
        apply_layer(io.BytesIO(tar_of(("file", "a", "x"), ("file", "a/b", "y"))), str(root))


def test_the_local_exporter_writes_files_as_whoever_runs_bake(tmp_path: Path) -> None:
    from bake.exporter.local import export_local

    tree = tmp_path / "tree"
    (tree / "home" / "app").mkdir(parents=True)
    (tree / "x").write_text("x")
    if os.geteuid() == 0:
        os.chown(tree / "home" / "app", 1000, 1000)
        os.chown(tree / "x", 1234, 99)
    export_local([("", str(tree))], str(tmp_path / "out"))
    owners = {(p.stat().st_uid, p.stat().st_gid) for p in (tmp_path / "out").rglob("*")}
    assert owners == {(os.geteuid(), os.getegid())}  # as BuildKit's local exporter: the image's ids stay inside


def test_a_second_local_export_rewrites_only_what_changed(tmp_path: Path) -> None:
    from bake.exporter.local import export_local

    tree = tmp_path / "tree"
    (tree / "d").mkdir(parents=True)
    (tree / "same").write_text("same")
    (tree / "d" / "changes").write_text("v1")
    os.symlink("same", tree / "link")
    dest = tmp_path / "out"
    export_local([("", str(tree))], str(dest))
    before = {p.name: p.lstat().st_ino for p in dest.rglob("*")}
    (tree / "d" / "changes").write_text("v2, longer")
    (tree / "new").write_text("new")
    (dest / "mine").write_text("the user's own")  # not produced by the build: stays, as with buildx
    export_local([("", str(tree))], str(dest))
    after = {p.name: p.lstat().st_ino for p in dest.rglob("*")}
    assert after["same"] == before["same"] and after["link"] == before["link"]  # untouched
    assert after["changes"] != before["changes"] and (dest / "d" / "changes").read_text() == "v2, longer"
    assert (dest / "new").read_text() == "new" and (dest / "mine").read_text() == "the user's own"
    assert os.readlink(dest / "link") == "same" and not list(dest.rglob("*.tmp"))
