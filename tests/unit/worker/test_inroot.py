"""The in-root resolver's queries and changes on a tree whose links point everywhere: absolute
links, ``..`` past the top, loops, links to files where a directory is expected. Each case runs
with the kernel's openat2 and with the O_NOFOLLOW walk; a canary outside the root must not change."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from bake.worker.errors import UnsafePathError, UserError
from bake.worker.inroot import Root, chmod_fd
from bake.worker.users import resolve_user
from tests.unit.worker.resolvers import resolver  # noqa: F401  (autouse: every test on both resolvers)


@pytest.fixture
def host(tmp_path: Path) -> Path:
    h = tmp_path / "host"
    (h / "etc").mkdir(parents=True)
    (h / "etc" / "passwd").write_text("host secret")
    return h


@pytest.fixture
def tree(tmp_path: Path, host: Path) -> Path:
    """A root whose links all aim at the host (or nowhere); the root's own /etc/passwd exists."""
    r = tmp_path / "root"
    (r / "etc").mkdir(parents=True)
    (r / "etc" / "passwd").write_text("root's own")
    (r / "data").mkdir()
    (r / "data" / "file").write_text("data")
    os.symlink(str(host / "etc" / "passwd"), r / "abs")  # absolute: means the root's <host path>
    os.symlink("../../../../etc/passwd", r / "data" / "up")  # .. past the top stops at the root
    os.symlink("/etc", r / "etc-link")
    os.symlink("loop-b", r / "loop-a")
    os.symlink("loop-a", r / "loop-b")
    os.symlink("data/file", r / "file-link")
    os.symlink("/gone/deeper", r / "dangling")
    os.mkfifo(r / "fifo")
    return r


def test_reads_resolve_inside_the_root(tree: Path) -> None:
    with Root(str(tree)) as root:
        assert root.read("data/up") == b"root's own"
        assert root.read("etc-link/passwd") == b"root's own"
        assert root.read("abs") is None  # the host path does not exist inside the root
        assert root.read("data") is None and root.read("fifo") is None  # not regular files; no blocking
        assert root.read("data/file", limit=2) == b"da"
        assert root.read("loop-a") is None


def test_stat_follows_and_lstat_does_not(tree: Path) -> None:
    with Root(str(tree)) as root:
        linked = root.stat("file-link")
        assert linked is not None and stat.S_ISREG(linked.st_mode)
        own = root.lstat("file-link")
        assert own is not None and stat.S_ISLNK(own.st_mode)
        assert root.stat("dangling") is None and root.lstat("dangling") is not None
        assert root.lstat("missing/x") is None and root.lstat("data/file/x") is None
        top = root.lstat("/")
        assert top is not None and stat.S_ISDIR(top.st_mode)


def test_canonical_paths_and_a_link_loop(tree: Path) -> None:
    with Root(str(tree)) as root:
        assert root.canonical("/data/up") == ["etc", "passwd"]
        assert root.canonical("etc-link/../data/./file") == ["data", "file"]
        assert root.canonical("file-link", follow=False) == ["file-link"]
        assert root.canonical("dangling/more") == ["gone", "deeper", "more"]
        with pytest.raises(UnsafePathError, match="too many levels of symbolic links"):
            root.canonical("loop-a")


def test_open_without_following_gives_the_link_itself(tree: Path) -> None:
    os.chmod(tree / "data" / "file", 0o644)
    with Root(str(tree)) as root:
        fd = root.open("file-link", follow=False)
        try:
            assert stat.S_ISLNK(os.fstat(fd).st_mode)
            chmod_fd(fd, 0o600)  # a link's mode means nothing: nothing changes, nothing fails
        finally:
            os.close(fd)
    assert stat.S_IMODE(os.stat(tree / "data" / "file").st_mode) == 0o644  # not the target's either


def test_an_image_whose_passwd_is_a_link_loop_has_no_users_under_either_resolver(tree: Path) -> None:
    (tree / "etc" / "passwd").unlink()
    os.symlink("/loop-a", tree / "etc" / "passwd")
    with pytest.raises(UserError, match="unable to find user app"):
        resolve_user(str(tree), "app")
    assert resolve_user(str(tree), "1000:1000") == (1000, 1000, (1000,))


def test_real_gives_the_host_path_inside_the_root(tree: Path) -> None:
    with Root(str(tree)) as root:
        assert root.real("etc-link") == str(tree / "etc")
        assert root.real("data/up") == str(tree / "etc" / "passwd")
        assert root.real("/") == str(tree)


def test_makedirs_follows_links_inside_and_creates_at_a_dangling_links_target(tree: Path, host: Path) -> None:
    with Root(str(tree)) as root:
        fd, created = root.makedirs("dangling/sub", 0o750)
        os.close(fd)
        assert created == ["gone", "gone/deeper", "gone/deeper/sub"]
        assert (tree / "gone" / "deeper" / "sub").is_dir()
        fd, created = root.makedirs("etc-link/new")
        os.close(fd)
        assert created == ["etc/new"] and (tree / "etc" / "new").is_dir()
        with pytest.raises(UnsafePathError, match="mkdir data/file/x: data/file/x is not a directory"):
            root.makedirs("data/file/x")
    assert sorted(os.listdir(host)) == ["etc"] and os.listdir(host / "etc") == ["passwd"]


def test_parent_makes_missing_directories_only_when_asked(tree: Path) -> None:
    with Root(str(tree)) as root:
        with pytest.raises(FileNotFoundError):
            root.parent("new/dir/name")
        fd, name = root.parent("new/dir/name", create=True)
        os.close(fd)
        assert name == "name" and (tree / "new" / "dir").is_dir()
        fd, name = root.parent("data/..")  # a trailing .. names the directory it leads to
        os.close(fd)
        assert name == ""


def test_remove_takes_the_link_never_its_target(tree: Path, host: Path) -> None:
    with Root(str(tree)) as root:
        assert root.remove("etc-link")
        assert root.remove("data")  # a directory with all it holds
        assert not root.remove("missing/x") and not root.remove("nothing")
    assert (tree / "etc" / "passwd").exists() and not (tree / "data").exists()
    assert (host / "etc" / "passwd").read_text() == "host secret"


def test_a_sub_root_is_confined_to_its_directory(tree: Path) -> None:
    with Root(str(tree)) as root:
        fd = root.open("data", os.O_PATH | os.O_DIRECTORY)
        try:
            with root.sub(fd) as data:
                assert data.read("up") is None  # ../../.. stops at data/, which has no etc/passwd
                assert data.read("/file") == b"data"
        finally:
            os.close(fd)
