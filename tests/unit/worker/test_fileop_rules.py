"""The rules of COPY, ADD, WORKDIR-style mkdir, heredoc files and rm on real trees, beyond the
basics in test_fileops.py: where each source lands, what a created parent directory gets, what
is refused and in which words (BuildKit's where it has them)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from bake.graph.ops import Copy, Mkdir, Mkfile, Rm
from bake.worker.errors import FileOpError
from bake.worker.fileops import apply_actions, chmod

PASSWD = "root:x:0:0::/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\n"
GROUP = "root:x:0:\napp:x:1000:\nstaff:x:50:app\n"


@pytest.fixture
def ctx(tmp_path: Path) -> Path:
    c = tmp_path / "ctx"
    (c / "src" / "nested" / "deep").mkdir(parents=True)
    (c / "src" / "nested" / "deep" / "f.go").write_text("deep")
    (c / "src" / "nested" / "n.go").write_text("nested")
    (c / "src" / "main.go").write_text("main")
    (c / "docs").mkdir()
    (c / "docs" / "a.md").write_text("a")
    (c / "notes.txt").write_text("notes")
    os.utime(c / "notes.txt", ns=(5_000_000_000, 5_000_000_000))
    os.symlink("nowhere", c / "dangling")
    os.symlink("notes.txt", c / "link")
    return c


@pytest.fixture
def root(tmp_path: Path) -> Path:
    r = tmp_path / "root"
    (r / "etc").mkdir(parents=True)
    (r / "etc" / "passwd").write_text(PASSWD)
    (r / "etc" / "group").write_text(GROUP)
    return r


def copy(root: Path, ctx: Path, *actions: Copy) -> None:
    apply_actions(str(root), actions, [str(ctx)])


def files(base: Path) -> list[str]:
    return sorted(str(p.relative_to(base)) for p in base.rglob("*"))


# --- where sources land -----------------------------------------------------------------------


def test_a_file_copied_onto_an_existing_directory_goes_inside_it(root: Path, ctx: Path) -> None:
    (root / "app").mkdir()
    copy(root, ctx, Copy(0, "notes.txt", "/app"))
    assert (root / "app" / "notes.txt").read_text() == "notes"


def test_a_directory_source_copies_its_contents_or_itself(root: Path, ctx: Path) -> None:
    copy(root, ctx, Copy(0, "docs", "/contents", dir_contents_only=True), Copy(0, "docs", "/itself/"))
    assert files(root / "contents") == ["a.md"]
    assert files(root / "itself") == ["docs", "docs/a.md"]


def test_parents_keeps_the_path_after_a_pivot(root: Path, ctx: Path) -> None:
    copy(root, ctx, Copy(0, "./src/./nested/deep/f.go", "/out/", parents=True),
         Copy(0, "src/*/n.go", "/all/", parents=True))
    assert files(root / "out") == ["nested", "nested/deep", "nested/deep/f.go"]
    assert files(root / "all") == ["src", "src/nested", "src/nested/n.go"]


def test_wildcards_match_one_level_and_may_be_allowed_to_match_nothing(root: Path, ctx: Path) -> None:
    copy(root, ctx, Copy(0, "src/*.go", "/go/"), Copy(0, "*.none", "/empty/", allow_empty_wildcard=True))
    assert files(root / "go") == ["main.go"]  # not the nested ones
    with pytest.raises(FileOpError, match=r"no source files were specified: \*\.none matched nothing"):
        copy(root, ctx, Copy(0, "*.none", "/x/"))


def test_excludes_apply_inside_a_copied_tree(root: Path, ctx: Path) -> None:
    copy(root, ctx, Copy(0, "src", "/src", dir_contents_only=True, exclude=("nested/deep",)))
    assert files(root / "src") == ["main.go", "nested", "nested/n.go"]


def test_links_are_followed_at_the_source_only_when_asked(root: Path, ctx: Path) -> None:
    copy(root, ctx, Copy(0, "link", "/followed"), Copy(0, "link", "/kept", follow_symlinks=False))
    assert (root / "followed").read_text() == "notes" and not (root / "followed").is_symlink()
    assert os.readlink(root / "kept") == "notes.txt"
    with pytest.raises(FileOpError, match='failed to compute cache key: "/dangling": not found'):
        copy(root, ctx, Copy(0, "dangling", "/d"))
    with pytest.raises(FileOpError, match=r'failed to compute cache key: "/missing\.txt": not found'):
        copy(root, ctx, Copy(0, "missing.txt", "/m"))


def test_a_file_never_replaces_a_directory_and_a_directory_never_a_file(root: Path, ctx: Path) -> None:
    (root / "docs" / "a.md").mkdir(parents=True)
    with pytest.raises(FileOpError, match=r"cannot replace to directory /docs/a\.md with file"):
        copy(root, ctx, Copy(0, "docs", "/docs", dir_contents_only=True))
    (root / "src").write_text("a file")
    with pytest.raises(FileOpError, match="cannot copy to non-directory: /src"):
        copy(root, ctx, Copy(0, "src", "/src", dir_contents_only=True))


def test_only_files_directories_and_links_are_copied(root: Path, ctx: Path) -> None:
    os.mkfifo(ctx / "pipe")
    with pytest.raises(FileOpError, match="cannot copy /pipe: not a regular file, directory or symlink"):
        copy(root, ctx, Copy(0, "pipe", "/pipe"))


def test_add_of_a_file_that_is_not_an_archive_copies_it(root: Path, ctx: Path) -> None:
    copy(root, ctx, Copy(0, "notes.txt", "/opt/", unpack=True))
    assert (root / "opt" / "notes.txt").read_text() == "notes"


# --- attributes ---------------------------------------------------------------------------------


def test_times_are_kept_or_set_to_the_steps_timestamp(root: Path, ctx: Path) -> None:
    copy(root, ctx, Copy(0, "notes.txt", "/kept"), Copy(0, "notes.txt", "/clamped", timestamp=1000))
    assert os.stat(root / "kept").st_mtime_ns == 5_000_000_000
    assert os.stat(root / "clamped").st_mtime == 1000


@pytest.mark.skipif(os.geteuid() != 0, reason="ownership needs root")
def test_owners_are_kept_unless_chowned_and_created_parents_get_the_chown(root: Path, ctx: Path) -> None:
    # BuildKit keeps a source's owners (COPY --from an image or stage); a build context's files are
    # root's because the context's copy makes them so, not because COPY resets them
    os.chown(ctx / "notes.txt", 1234, 4321)
    copy(root, ctx, Copy(0, "notes.txt", "/plain"), Copy(0, "notes.txt", "/made/dirs/n", chown="1000:50", chmod="750"))
    assert (os.stat(root / "plain").st_uid, os.stat(root / "plain").st_gid) == (1234, 4321)
    for path in ("made", "made/dirs", "made/dirs/n"):
        st = os.stat(root / path)
        assert (st.st_uid, st.st_gid) == (1000, 50)
    assert stat.S_IMODE(os.stat(root / "made" / "dirs").st_mode) == 0o750  # an octal --chmod's mode
    copy(root, ctx, Copy(0, "notes.txt", "/sym/dirs/n", chmod="u+x"))
    assert stat.S_IMODE(os.stat(root / "sym" / "dirs").st_mode) == 0o755  # a symbolic one: 0755


def test_hard_links_within_one_copy_stay_links(root: Path, ctx: Path) -> None:
    os.link(ctx / "src" / "main.go", ctx / "src" / "nested" / "main-again.go")
    os.link(ctx / "notes.txt", ctx / "docs" / "notes-again.txt")
    copy(root, ctx, Copy(0, "src", "/app/", dir_contents_only=True), Copy(0, "notes.txt", "/one"),
         Copy(0, "docs", "/two", dir_contents_only=True))
    first, again = os.stat(root / "app" / "main.go"), os.stat(root / "app" / "nested" / "main-again.go")
    assert (first.st_ino, first.st_nlink) == (again.st_ino, 2)
    assert (root / "app" / "nested" / "main-again.go").read_text() == "main"
    # separate COPY instructions never share an inode
    assert os.stat(root / "one").st_ino != os.stat(root / "two" / "notes-again.txt").st_ino


@pytest.mark.parametrize(("spec", "current", "is_dir", "mode"), [
    ("0755", 0o600, False, 0o755),
    ("u=rw,go=r", 0o777, False, 0o644),
    ("+x", 0o644, False, 0o755),  # no who: all
    ("a+X", 0o644, False, 0o644),  # X: only directories and files already executable by someone
    ("a+X", 0o744, False, 0o755),
    ("u+s,g+s", 0o755, False, 0o6755),
    ("+t", 0o777, True, 0o1777),
    ("o-rwx", 0o777, True, 0o770),
])
def test_chmod_specs(spec: str, current: int, is_dir: bool, mode: int) -> None:
    assert chmod(spec, current, is_dir) == mode


# --- mkdir, heredoc files, rm -------------------------------------------------------------------------


def test_mkdir_without_parents_needs_its_parent(root: Path) -> None:
    apply_actions(str(root), (Mkdir("/srv", 0o700), Mkdir("/srv", 0o750)), [])  # an existing one: its mode set
    assert stat.S_IMODE(os.stat(root / "srv").st_mode) == 0o750
    with pytest.raises(FileOpError, match="mkdir /a/b/c"):
        apply_actions(str(root), (Mkdir("/a/b/c"),), [])


@pytest.mark.skipif(os.geteuid() != 0, reason="ownership needs root")
def test_mkdir_chown_by_name(root: Path) -> None:
    apply_actions(str(root), (Mkdir("/home/app/cache", 0o700, make_parents=True, chown="app:staff"),), [])
    st = os.stat(root / "home" / "app" / "cache")
    assert (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)) == (1000, 50, 0o700)


def test_a_heredoc_file_is_never_the_root_or_a_directory(root: Path) -> None:
    with pytest.raises(FileOpError, match="cannot write file /: it is the root directory"):
        apply_actions(str(root), (Mkfile("/", b"x"),), [])
    with pytest.raises(FileOpError, match="cannot write file /etc: it is a directory"):
        apply_actions(str(root), (Mkfile("/etc", b"x"),), [])
    apply_actions(str(root), (Mkfile("/etc/motd", b"a" * 100_000, 0o600),), [])  # replaced, whole
    assert (root / "etc" / "motd").read_bytes() == b"a" * 100_000
    assert stat.S_IMODE(os.stat(root / "etc" / "motd").st_mode) == 0o600


def test_rm_with_a_wildcard_removes_every_match(root: Path) -> None:
    for name in ("a.log", "b.log", "keep.txt"):
        (root / name).write_text("x")
    apply_actions(str(root), (Rm("/*.log", allow_wildcard=True),), [])
    assert sorted(os.listdir(root)) == ["etc", "keep.txt"]
    apply_actions(str(root), (Rm("/*.log", allow_wildcard=True, allow_not_found=True),), [])
    with pytest.raises(FileOpError, match=r"rm /\*.tmp: no such file"):
        apply_actions(str(root), (Rm("/*.tmp"),), [])  # no wildcard allowed: a literal name
