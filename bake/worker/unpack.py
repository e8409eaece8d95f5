"""Apply an OCI layer tar onto a directory, safely.

Whiteouts (``.wh.<name>``) delete, opaque markers (``.wh..wh..opq``) empty a directory of what
lower layers put there. No entry may land outside the root: absolute names and ``..`` are
confined, and symlinks met on the way — planted by this or an earlier layer — are resolved inside
the root rather than followed out of it. Hard links must point inside the root too. Device nodes
are only created when running as root.
"""

from __future__ import annotations

import os
import posixpath
import shutil
import stat
import tarfile
from typing import BinaryIO

from bake.errors import BakeError

WHITEOUT_PREFIX = ".wh."  # the layer format's deletion and opaque-directory markers
OPAQUE_MARKER = ".wh..wh..opq"

class UnsafeLayerError(BakeError):
    """A layer entry tried to escape the root or is not allowed here."""


def secure_join(root: str, path: str, follow_last: bool = False, _depth: int = 0) -> str:
    """``root/path`` with every symlink on the way resolved *inside* ``root`` (like a chroot would)."""
    if _depth > 40:
        raise UnsafeLayerError(f"too many levels of symbolic links resolving {path!r}")
    parts = [p for p in posixpath.normpath("/" + path).split("/") if p]
    current = ""
    for i, part in enumerate(parts):
        candidate = posixpath.join(current, part)
        full = os.path.join(root, candidate)
        last = i == len(parts) - 1
        if os.path.islink(full) and (not last or follow_last):
            target = os.readlink(full)
            base = "" if target.startswith("/") else current
            resolved = posixpath.normpath("/" + posixpath.join(base, target)).lstrip("/")
            rest = "/".join(parts[i + 1 :])
            return secure_join(root, posixpath.join(resolved, rest) if rest else resolved, follow_last, _depth + 1)
        current = candidate
    return os.path.join(root, current) if current else root


def apply_layer(stream: BinaryIO, root: str) -> list[str]:
    """Apply the layer read from ``stream`` onto ``root``; returns the paths it wrote."""
    created: set[str] = set()
    written: list[str] = []
    is_root = os.geteuid() == 0
    with tarfile.open(fileobj=stream, mode="r|*") as tar:
        for member in tar:
            name = posixpath.normpath("/" + member.name).lstrip("/")
            if not name or name == ".":
                continue
            parent, base = posixpath.split(name)
            if base == OPAQUE_MARKER:
                _empty_except(root, parent, created)
                continue
            if base.startswith(WHITEOUT_PREFIX):
                _remove(secure_join(root, posixpath.join(parent, base[len(WHITEOUT_PREFIX):])))
                continue
            target = secure_join(root, name)
            os.makedirs(os.path.dirname(target), exist_ok=True)
            if member.isdir():
                if os.path.lexists(target) and not os.path.isdir(target):
                    _remove(target)
                os.makedirs(target, exist_ok=True)
            else:
                _remove(target)
                if member.isreg():
                    f = tar.extractfile(member)
                    assert f is not None
                    with open(target, "wb") as out:
                        shutil.copyfileobj(f, out)
                elif member.issym():
                    os.symlink(member.linkname, target)
                elif member.islnk():
                    source = secure_join(root, posixpath.normpath("/" + member.linkname).lstrip("/"))
                    if not os.path.lexists(source):
                        raise UnsafeLayerError(f"hard link {member.name} -> {member.linkname}: target not in the layer root")
                    os.link(source, target, follow_symlinks=False)
                elif member.ischr() or member.isblk() or member.isfifo():
                    if not member.isfifo() and not is_root:
                        raise UnsafeLayerError(f"device node {member.name} needs root to be created")
                    kind = stat.S_IFCHR if member.ischr() else stat.S_IFBLK if member.isblk() else stat.S_IFIFO
                    os.mknod(target, kind | member.mode, os.makedev(member.devmajor, member.devminor))
                else:
                    raise UnsafeLayerError(f"unsupported entry type for {member.name}")
            _metadata(target, member, is_root)
            created.add(name)
            written.append(name)
    return written


def _metadata(path: str, m: tarfile.TarInfo, is_root: bool) -> None:
    if is_root:
        os.lchown(path, m.uid, m.gid)
    for key, value in (m.pax_headers or {}).items():
        if key.startswith("SCHILY.xattr."):
            try:
                os.setxattr(path, key[len("SCHILY.xattr."):], value.encode("utf-8", "surrogateescape"), follow_symlinks=False)
            except OSError:
                continue  # the filesystem may not support this namespace
    if not m.issym():
        os.chmod(path, m.mode)
    os.utime(path, (m.mtime, m.mtime), follow_symlinks=False)


def _remove(path: str) -> None:
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path)
    elif os.path.lexists(path):
        os.unlink(path)


def _empty_except(root: str, parent: str, keep: set[str]) -> None:
    """An opaque directory: drop what lower layers put there, keep what this layer wrote."""
    directory = secure_join(root, parent)
    if not os.path.isdir(directory):
        return
    for name in os.listdir(directory):
        rel = posixpath.join(parent, name) if parent else name
        if rel not in keep:
            _remove(os.path.join(directory, name))
