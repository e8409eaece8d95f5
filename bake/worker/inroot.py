"""The one path resolver for trees a build does not trust: snapshots, views and archives.

A path inside a build's filesystem means what it means to a process chrooted there: absolute
symlinks and ``..`` stop at the root. Every file operation on such a tree goes through a
``Root``: it holds a descriptor of the root directory, resolves paths against it with
``openat2(RESOLVE_IN_ROOT)`` where the kernel has it (Linux ≥ 5.6) or else with an ``O_NOFOLLOW``
walk that resolves each link itself, and hands out *descriptors*: callers then act on
``(directory fd, name)`` pairs with the ``dir_fd=`` / ``follow_symlinks=False`` forms of ``os``,
so nothing is ever looked up again through a host path that a symlink could redirect.

Never join a root with a path and ``open()`` the result; that follows links out of the root.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import os
import stat

from bake.content.dirfd import remove_at
from bake.worker.errors import UnsafePathError

_MAX_LINKS = 40  # as the kernel's ELOOP limit
_SYS_OPENAT2 = 437  # the same number on every architecture (the generic syscall table)
_RESOLVE_NO_MAGICLINKS = 0x02
_RESOLVE_IN_ROOT = 0x10


class _OpenHow(ctypes.Structure):
    _fields_ = (("flags", ctypes.c_uint64), ("mode", ctypes.c_uint64), ("resolve", ctypes.c_uint64))


_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long
_openat2_works: bool | None = None  # probed on first use; tests switch it off to run the walk


def _openat2(dirfd: int, path: str, flags: int, mode: int) -> int:
    how = _OpenHow(flags | os.O_CLOEXEC, mode if flags & os.O_CREAT or flags & os.O_TMPFILE == os.O_TMPFILE else 0,  # else EINVAL
                   _RESOLVE_IN_ROOT | _RESOLVE_NO_MAGICLINKS)
    while True:
        fd = _libc.syscall(_SYS_OPENAT2, ctypes.c_int(dirfd), os.fsencode(path), ctypes.byref(how),
                           ctypes.c_size_t(ctypes.sizeof(how)))
        if fd >= 0:
            return int(fd)
        err = ctypes.get_errno()
        if err not in (errno.EAGAIN, errno.EINTR):  # EAGAIN: a rename raced the lookup; retry
            raise OSError(err, os.strerror(err), path)


def openat2_available() -> bool:
    global _openat2_works
    if _openat2_works is None:
        root = os.open("/", os.O_PATH | os.O_CLOEXEC)
        try:
            os.close(_openat2(root, ".", os.O_PATH, 0))
            _openat2_works = True
        except OSError:  # ENOSYS on old kernels, EPERM under some seccomp filters
            _openat2_works = False
        finally:
            os.close(root)
    return _openat2_works


def split(path: str) -> list[str]:
    """The components of ``path`` as seen from the root (``..`` is resolved later, against links)."""
    return [p for p in path.split("/") if p and p != "."]


class Root:
    """A directory whose paths are resolved inside it. Use as a context manager (it holds an fd)."""

    def __init__(self, path: str, fd: int | None = None) -> None:
        self.path = path  # for messages, and for programs that need a path (never joined to open)
        self.fd = os.open(path, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC) if fd is None else os.dup(fd)

    def sub(self, fd: int) -> Root:
        """A root of its own at the directory ``fd`` (opened inside this one)."""
        return Root(self.path, fd)

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def __enter__(self) -> Root:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- resolution -------------------------------------------------------------------------

    def open(self, path: str, flags: int = os.O_PATH, mode: int = 0o644, follow: bool = True) -> int:
        """A descriptor of ``path``; with ``follow=False`` a symlink in the last place is opened
        itself (with ``O_PATH``) or refused (``ELOOP``) instead of followed."""
        parts = split(path)
        if not follow and parts and parts[-1] != "..":
            parent = self.open("/".join(parts[:-1]), os.O_PATH | os.O_DIRECTORY)
            try:
                return os.open(parts[-1], flags | os.O_NOFOLLOW | os.O_CLOEXEC, mode, dir_fd=parent)
            finally:
                os.close(parent)
        if openat2_available():
            return _openat2(self.fd, "/".join(parts) or ".", flags, mode)
        try:
            canonical = self.canonical(path)
        except UnsafePathError as e:  # a link loop: ELOOP, as openat2 answers it
            raise OSError(errno.ELOOP, str(e), path) from e
        return self._walk_open(canonical, flags, mode)

    def parent(self, path: str, create: bool = False) -> tuple[int, str]:
        """``(fd of the directory holding path's last component, that name)``, the directory
        resolved inside the root (made, with ``create``, where missing). The name is ``""`` for
        the root itself and is never followed. Close the fd."""
        parts = split(path)
        if parts and parts[-1] == "..":
            parts = self.canonical(path, follow=False)
        if not parts:
            return os.dup(self.fd), ""
        directory = "/".join(parts[:-1])
        try:
            return self.open(directory, os.O_PATH | os.O_DIRECTORY), parts[-1]
        except FileNotFoundError:
            if not create:
                raise
        return self.makedirs(directory)[0], parts[-1]

    def canonical(self, path: str, follow: bool = True) -> list[str]:
        """``path`` with every symlink and ``..`` resolved inside the root, as components from
        the root. Components past the first missing one are taken as written (``..`` lexically)."""
        todo = split(path)
        todo.reverse()
        done: list[str] = []
        links = 0
        while todo:
            part = todo.pop()
            if part == "..":
                if done:
                    done.pop()
                continue
            target = self._readlink(done, part) if (todo or follow) else None
            if target is None:
                done.append(part)
                continue
            links += 1
            if links > _MAX_LINKS:
                raise UnsafePathError(f"too many levels of symbolic links resolving {path!r}")
            if target.startswith("/"):
                done = []
            todo.extend(reversed(split(target)))
        return done

    def _readlink(self, parents: list[str], name: str) -> str | None:
        """The target of ``parents/name`` if it is a symlink (parents are real directories)."""
        try:
            fd = self._walk_open(parents, os.O_PATH | os.O_DIRECTORY, 0)
        except OSError:
            return None  # below something missing or not a directory: nothing more to resolve
        try:
            st = os.stat(name, dir_fd=fd, follow_symlinks=False)
            return os.readlink(name, dir_fd=fd) if stat.S_ISLNK(st.st_mode) else None
        except OSError:
            return None
        finally:
            os.close(fd)

    def _walk_open(self, parts: list[str], flags: int, mode: int) -> int:
        """Open canonical ``parts`` refusing to follow any symlink on the way, so a link
        swapped in after they were resolved fails with ELOOP instead of being followed."""
        fd = os.dup(self.fd)
        try:
            for i, part in enumerate(parts):
                last = i == len(parts) - 1
                step = flags | os.O_NOFOLLOW if last else os.O_PATH | os.O_DIRECTORY | os.O_NOFOLLOW
                nxt = os.open(part, step | os.O_CLOEXEC, mode, dir_fd=fd)
                os.close(fd)
                fd = nxt
            if not parts:
                nxt = os.open(".", flags | os.O_CLOEXEC, mode, dir_fd=fd)
                os.close(fd)
                fd = nxt
            return fd
        except BaseException:
            os.close(fd)
            raise

    # --- queries ----------------------------------------------------------------------------

    def lstat(self, path: str) -> os.stat_result | None:
        """The entry at ``path`` itself (a last symlink not followed), or None when missing."""
        try:
            dirfd, name = self.parent(path)
        except OSError:
            return None
        try:
            return os.stat(name or ".", dir_fd=dirfd, follow_symlinks=False)
        except OSError:
            return None
        finally:
            os.close(dirfd)

    def stat(self, path: str) -> os.stat_result | None:
        """What ``path`` resolves to inside the root, or None when it does not resolve."""
        try:
            fd = self.open(path)
        except OSError:
            return None
        try:
            return os.fstat(fd)
        finally:
            os.close(fd)

    def read(self, path: str, limit: int = 16 << 20) -> bytes | None:
        """The contents of the regular file ``path`` resolves to, or None if there is none."""
        try:
            fd = self.open(path, os.O_RDONLY | os.O_NONBLOCK)
        except OSError:
            return None
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                return None
            with os.fdopen(os.dup(fd), "rb") as f:
                return f.read(limit)
        finally:
            os.close(fd)

    def real(self, path: str) -> str:
        """The host path ``path`` resolves to, symlinks resolved inside the root; for handing a
        location to another program (a bind mount source). The root must not change meanwhile."""
        fd = self.open(path)
        try:
            real = os.readlink(f"/proc/self/fd/{fd}")
        finally:
            os.close(fd)
        base = os.readlink(f"/proc/self/fd/{self.fd}")
        if real != base and not real.startswith(base.rstrip("/") + "/"):
            raise UnsafePathError(f"{path!r} resolves outside its root")
        return real

    # --- changes ----------------------------------------------------------------------------

    def makedirs(self, path: str, mode: int = 0o755) -> tuple[int, list[str]]:
        """``mkdir -p`` inside the root (links on the way followed inside it, dangling ones
        created at their target). Returns an fd of the directory and the paths it created."""
        created: list[str] = []
        parts = self.canonical(path)
        fd = os.dup(self.fd)
        try:
            for i, part in enumerate(parts):
                with contextlib.suppress(FileExistsError):
                    os.mkdir(part, mode, dir_fd=fd)
                    created.append("/".join(parts[: i + 1]))
                nxt = os.open(part, os.O_PATH | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=fd)
                os.close(fd)
                fd = nxt
            return fd, created
        except NotADirectoryError as e:
            os.close(fd)
            raise UnsafePathError(f"mkdir {path}: {'/'.join(parts)} is not a directory") from e
        except OSError as e:
            os.close(fd)
            if e.errno == errno.ELOOP:  # a link appeared after the path was resolved
                raise UnsafePathError(f"mkdir {path}: the path changed while it was resolved") from e
            raise

    def remove(self, path: str) -> bool:
        """Delete the entry at ``path`` (a directory with all it holds; a last link itself, never
        its target). Returns whether there was one."""
        try:
            dirfd, name = self.parent(path)
        except (FileNotFoundError, NotADirectoryError):
            return False
        try:
            return remove_at(dirfd, name)
        finally:
            os.close(dirfd)


def chmod_fd(fd: int, mode: int) -> None:
    """chmod the inode behind an ``O_PATH`` descriptor (never a symlink's target)."""
    if stat.S_ISLNK(os.fstat(fd).st_mode):
        return  # a link's own mode means nothing on Linux
    os.chmod(f"/proc/self/fd/{fd}", mode)
