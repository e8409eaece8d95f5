"""Writing into an untrusted tree by descriptor: file data, attributes and tar extraction.

Everything here acts on ``(directory fd, name)`` pairs whose directory was resolved inside its
root (``inroot.Root``) and never follows a link in the last place. Archive extraction — ADD's
auto-unpacking and image layers alike — resolves each entry's parent inside the root, so an
entry ``lnk -> /victim`` followed by a file ``lnk`` replaces the link instead of writing
``/victim``, and hard links may only point at entries inside the root.
"""

from __future__ import annotations

import contextlib
import errno
import os
import posixpath
import shutil
import stat
import tarfile
from dataclasses import dataclass

from bake.content.atomic import FULL, NoSpaceError
from bake.content.dirfd import opened, remove_at
from bake.worker.errors import UnsafeArchiveError
from bake.worker.inroot import Root, chmod_fd

WHITEOUT_PREFIX = ".wh."  # the layer format's deletion and opaque-directory markers
OPAQUE_MARKER = ".wh..wh..opq"


@dataclass(frozen=True, slots=True)
class Attrs:
    """What to set on an entry; None leaves it as it is."""

    mode: int | None = None
    owner: tuple[int, int] | None = None
    mtime: float | None = None


def set_attrs(dirfd: int, name: str, attrs: Attrs) -> None:
    """Owner, then mode (a chown clears set-id bits), then times — on the entry, never a link's target."""
    if attrs.owner is not None:
        os.chown(name, *attrs.owner, dir_fd=dirfd, follow_symlinks=False)
    if attrs.mode is not None:
        with opened(os.open(name, os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dirfd)) as fd:
            chmod_fd(fd, attrs.mode)
    if attrs.mtime is not None:
        os.utime(name, (attrs.mtime, attrs.mtime), dir_fd=dirfd, follow_symlinks=False)


def copy_data(src_dir: int, src_name: str, dst_dir: int, name: str) -> None:
    """A new regular file ``dst_dir/name`` with the bytes of ``src_dir/src_name`` (no links followed)."""
    with opened(os.open(src_name, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=src_dir)) as src, \
            opened(os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600,
                           dir_fd=dst_dir)) as dst:
        size = os.fstat(src).st_size
        copied = 0
        try:
            while copied < size:
                n = os.copy_file_range(src, dst, size - copied)
                if n == 0:
                    break
                copied += n
        except OSError as e:
            if e.errno not in (errno.EXDEV, errno.ENOSYS, errno.EOPNOTSUPP, errno.EINVAL):
                raise
            os.lseek(src, copied, os.SEEK_SET)
            os.lseek(dst, copied, os.SEEK_SET)
            with open(src, "rb", closefd=False) as r, open(dst, "wb", closefd=False) as w:
                shutil.copyfileobj(r, w, 1 << 20)


def extract(tar: tarfile.TarFile, root: Root, layer: bool = False) -> list[str]:
    """Unpack ``tar`` into ``root``; with ``layer``, ``.wh.`` entries delete and opaque markers
    empty a directory of what lower layers put there. Returns the paths written."""
    written: list[str] = []
    created: set[str] = set()
    is_root = os.geteuid() == 0
    parents = _Parents(root)
    try:
        for member in tar:
            name = posixpath.normpath("/" + member.name).lstrip("/")
            if not name or name == ".":
                continue
            parent, base = posixpath.split(name)
            if layer and base == OPAQUE_MARKER:
                parents.forget()
                _empty_except(root, parent, created)
                continue
            if layer and base.startswith(WHITEOUT_PREFIX):
                parents.forget()
                root.remove(posixpath.join(parent, base[len(WHITEOUT_PREFIX):]))
                continue
            try:
                dirfd = parents.of(name)
                if member.isreg():
                    replaced = _file(tar, member, dirfd, base, is_root)
                else:
                    replaced = _entry(member, root, dirfd, base, is_root)
                    _metadata(dirfd, base, member, is_root)
                if replaced or member.issym():
                    parents.forget()  # a path resolved before may lead elsewhere now
            except OSError as e:
                if e.errno in FULL:
                    raise NoSpaceError(root.path, f"{member.name} (extracting an archive)") from e
                raise UnsafeArchiveError(f"cannot extract {member.name}: {e.strerror or e}") from e
            created.add(name)
            written.append(name)
    finally:
        parents.forget()
    return written


class _Parents:
    """Directories entries go into, each resolved inside the root once while nothing that could
    change what a path leads to (a replaced entry, a symlink, a deletion) has happened since."""

    def __init__(self, root: Root) -> None:
        self.root = root
        self.fds: dict[str, int] = {}

    def of(self, name: str) -> int:
        """An fd of ``name``'s directory (made where missing); the cache owns it."""
        directory = posixpath.dirname(name)
        fd = self.fds.get(directory)
        if fd is None:
            if len(self.fds) >= 64:
                self.forget()
            fd, _ = self.root.parent(name, create=True)
            self.fds[directory] = fd
        return fd

    def forget(self) -> None:
        for fd in self.fds.values():
            os.close(fd)
        self.fds.clear()


def _file(tar: tarfile.TarFile, m: tarfile.TarInfo, dirfd: int, name: str, is_root: bool) -> bool:
    """A regular file, its data and attributes set through the descriptor it was made with;
    whether it replaced a directory or a link."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    replaced = False
    try:
        fd = os.open(name, flags, 0o600, dir_fd=dirfd)
    except FileExistsError:
        replaced = _leads(os.stat(name, dir_fd=dirfd, follow_symlinks=False))
        remove_at(dirfd, name)  # replaced, never written through
        fd = os.open(name, flags, 0o600, dir_fd=dirfd)
    with opened(fd):
        src = tar.extractfile(m)
        assert src is not None
        while chunk := src.read(1 << 20):
            view = memoryview(chunk)
            while view:
                view = view[os.write(fd, view):]
        if is_root:
            os.fchown(fd, m.uid, m.gid)
        for key, value in _xattrs(m):
            with contextlib.suppress(OSError):  # the filesystem may not support this namespace
                os.setxattr(fd, key, value)
        os.fchmod(fd, m.mode)  # after the owner: a chown clears set-id bits
        os.utime(fd, (m.mtime, m.mtime))
    return replaced


def _entry(m: tarfile.TarInfo, root: Root, dirfd: int, name: str, is_root: bool) -> bool:
    """Any entry but a regular file; whether it replaced a directory or a link."""
    try:
        existing: os.stat_result | None = os.stat(name, dir_fd=dirfd, follow_symlinks=False)
    except FileNotFoundError:
        existing = None
    if m.isdir():
        if existing is not None and stat.S_ISDIR(existing.st_mode):
            return False  # directories merge
        if existing is not None:
            os.unlink(name, dir_fd=dirfd)
        os.mkdir(name, 0o700, dir_fd=dirfd)
        return existing is not None and _leads(existing)
    if existing is not None:
        remove_at(dirfd, name)  # replaced, never written through
    if m.issym():
        os.symlink(m.linkname, name, dir_fd=dirfd)
    elif m.islnk():
        try:
            src_dir, src_name = root.parent(m.linkname)
        except OSError:
            raise UnsafeArchiveError(f"hard link {m.name} -> {m.linkname}: target not in the root") from None
        with opened(src_dir):
            try:
                os.link(src_name, name, src_dir_fd=src_dir, dst_dir_fd=dirfd, follow_symlinks=False)
            except FileNotFoundError:
                raise UnsafeArchiveError(f"hard link {m.name} -> {m.linkname}: target not in the root") from None
    elif m.ischr() or m.isblk() or m.isfifo():
        if not m.isfifo() and not is_root:
            raise UnsafeArchiveError(f"device node {m.name} needs root to be created")
        kind = stat.S_IFCHR if m.ischr() else stat.S_IFBLK if m.isblk() else stat.S_IFIFO
        os.mknod(name, kind | 0o600, os.makedev(m.devmajor, m.devminor), dir_fd=dirfd)
    else:
        raise UnsafeArchiveError(f"unsupported entry type for {m.name}")
    return existing is not None and _leads(existing)


def _leads(st: os.stat_result) -> bool:
    """Whether a path could lead through this entry (so removing it may change where one leads)."""
    return stat.S_ISDIR(st.st_mode) or stat.S_ISLNK(st.st_mode)


def _xattrs(m: tarfile.TarInfo) -> list[tuple[str, bytes]]:
    return [(k[len("SCHILY.xattr."):], v.encode("utf-8", "surrogateescape"))
            for k, v in (m.pax_headers or {}).items() if k.startswith("SCHILY.xattr.")]


def _metadata(dirfd: int, name: str, m: tarfile.TarInfo, is_root: bool) -> None:
    if is_root:
        os.chown(name, m.uid, m.gid, dir_fd=dirfd, follow_symlinks=False)
    xattrs = _xattrs(m)
    if xattrs and not m.issym():
        with opened(os.open(name, os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dirfd)) as fd:
            for key, value in xattrs:
                try:
                    os.setxattr(f"/proc/self/fd/{fd}", key, value)
                except OSError:
                    continue  # the filesystem may not support this namespace
    if not m.issym():
        set_attrs(dirfd, name, Attrs(mode=m.mode))
    os.utime(name, (m.mtime, m.mtime), dir_fd=dirfd, follow_symlinks=False)


def _empty_except(root: Root, parent: str, keep: set[str]) -> None:
    """An opaque directory: drop what lower layers put there, keep what this layer wrote."""
    try:
        fd = root.open(parent, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return
    with opened(fd):
        for name in os.listdir(fd):
            rel = posixpath.join(parent, name) if parent else name
            if rel not in keep:
                remove_at(fd, name)
