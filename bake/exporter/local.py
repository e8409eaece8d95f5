"""``type=local,dest=DIR``: the built filesystem written into a directory, incrementally.

Each tree is synced into ``dest/subdirectory``: an entry whose type, size, mode and modification
time already match is left alone (a warm rebuild rewrites nothing), a changed file is written to
a temporary name beside it and renamed over it (never half-written), and whatever is in the way
of a directory or file the build produces — a link an earlier export left, a file where a
directory now is — is replaced, never followed: everything below ``dest`` is reached through
directory descriptors opened with ``O_NOFOLLOW``. Entries already in ``dest`` that the build does
not produce stay, as with buildx. Files belong to whoever runs bake, as BuildKit's local exporter
writes them; modes and times are kept.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import os
import shutil
import stat
from collections.abc import Callable, Sequence

from bake.content.dirfd import opened, remove_at
from bake.exporter.errors import ExportError

__all__ = ["ExportError", "export_local"]

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


def export_local(trees: Sequence[tuple[str, str | None]], dest: str) -> None:
    """Write each (subdirectory, tree) to ``dest/subdirectory`` ("" for ``dest`` itself); a None
    tree is an empty filesystem."""
    os.makedirs(dest, exist_ok=True)
    with opened(os.open(dest, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)) as top:
        for sub, tree in trees:
            target = _subdir(top, sub)
            with opened(target):
                if tree is not None:
                    with opened(os.open(tree, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)) as src:
                        _sync_dir(src, target)


def _subdir(top: int, sub: str) -> int:
    fd = os.dup(top)
    for part in [p for p in sub.split("/") if p]:
        nxt = _dir_at(fd, part, 0o755)
        os.close(fd)
        fd = nxt
    return fd


def _dir_at(parent: int, name: str, mode: int) -> int:
    """A directory ``name`` in ``parent`` (made, or replacing a non-directory); its fd."""
    try:
        return os.open(name, _DIR_FLAGS, dir_fd=parent)
    except FileNotFoundError:
        pass
    except OSError as err:
        if err.errno not in (errno.ENOTDIR, errno.ELOOP):  # a file, or a link (never followed), is in the way
            raise
        remove_at(parent, name)
    os.mkdir(name, mode, dir_fd=parent)
    return os.open(name, _DIR_FLAGS, dir_fd=parent)


def _sync_dir(src: int, dst: int) -> None:
    with os.scandir(src) as it:
        entries = sorted(it, key=lambda e: e.name)
    for entry in entries:
        st = entry.stat(follow_symlinks=False)
        name = entry.name
        if stat.S_ISDIR(st.st_mode):
            with opened(_dir_at(dst, name, 0o700)) as d, opened(os.open(name, _DIR_FLAGS, dir_fd=src)) as s:
                _sync_dir(s, d)
            _attrs(dst, name, st)
            continue
        try:
            have: os.stat_result | None = os.stat(name, dir_fd=dst, follow_symlinks=False)
        except FileNotFoundError:
            have = None
        if have is not None and _same(src, dst, name, st, have):
            continue
        if stat.S_ISLNK(st.st_mode):
            target = os.readlink(name, dir_fd=src)
            try:
                if have is not None:
                    raise FileExistsError
                os.symlink(target, name, dir_fd=dst)  # atomic by itself: no temporary name needed
            except FileExistsError:
                _replace(dst, name, functools.partial(_link, target, dst))
        elif stat.S_ISREG(st.st_mode):
            _replace(dst, name, functools.partial(_copy_file, src, name, dst))
        else:
            continue  # devices, fifos, sockets: not written to a host directory (BuildKit skips them too)
        _attrs(dst, name, st)


def _same(src: int, dst: int, name: str, st: os.stat_result, have: os.stat_result) -> bool:
    if stat.S_IFMT(st.st_mode) != stat.S_IFMT(have.st_mode):
        return False
    if stat.S_ISLNK(st.st_mode):
        return os.readlink(name, dir_fd=src) == os.readlink(name, dir_fd=dst)
    return (st.st_size, st.st_mtime_ns, stat.S_IMODE(st.st_mode)) == (
        have.st_size, have.st_mtime_ns, stat.S_IMODE(have.st_mode))


def _replace(dst: int, name: str, make: Callable[[str], None]) -> None:
    """Make the entry under a temporary name, then rename it over ``name`` (a directory in the way
    is removed first: a file or link cannot replace it by rename)."""
    tmp = f".{name[:200]}.bake-{os.getpid()}.tmp"
    remove_at(dst, tmp)
    make(tmp)
    with contextlib.suppress(FileNotFoundError):
        if stat.S_ISDIR(os.stat(name, dir_fd=dst, follow_symlinks=False).st_mode):
            remove_at(dst, name)
    os.rename(tmp, name, src_dir_fd=dst, dst_dir_fd=dst)


def _link(target: str, dst: int, tmp: str) -> None:
    os.symlink(target, tmp, dir_fd=dst)


def _copy_file(src: int, name: str, dst: int, tmp: str) -> None:
    with opened(os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=src)) as r, \
            opened(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600,
                            dir_fd=dst)) as w:
        size, done = os.fstat(r).st_size, 0
        try:
            while done < size:  # in the kernel (and reflinked where the filesystem can)
                n = os.copy_file_range(r, w, size - done)
                if n == 0:
                    break
                done += n
        except OSError:
            os.lseek(r, done, os.SEEK_SET)
            os.lseek(w, done, os.SEEK_SET)
            with open(r, "rb", closefd=False) as fr, open(w, "wb", closefd=False) as fw:
                shutil.copyfileobj(fr, fw, 1 << 20)
        for key in _xattrs(r):
            with contextlib.suppress(OSError):  # a namespace this filesystem or user may not write
                os.setxattr(w, key, os.getxattr(r, key))


def _xattrs(fd: int) -> list[str]:
    try:
        return [k for k in os.listxattr(fd) if not k.startswith(("trusted.overlay.", "user.overlay."))]
    except OSError:
        return []


def _attrs(dst: int, name: str, st: os.stat_result) -> None:
    if not stat.S_ISLNK(st.st_mode):
        with opened(os.open(name, os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dst)) as fd:
            os.chmod(f"/proc/self/fd/{fd}", stat.S_IMODE(st.st_mode))
    os.utime(name, ns=(st.st_atime_ns, st.st_mtime_ns), dir_fd=dst, follow_symlinks=False)
