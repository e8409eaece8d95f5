"""A snapshot's overlay upper directory → a deterministic OCI layer tar.

Overlayfs records deletions as 0/0 character devices (whiteouts) and replaced directories with
the ``trusted.overlay.opaque`` xattr; the layer format says the same with ``.wh.<name>`` and
``.wh..wh..opq`` entries. Entries are written sorted, with numeric owners only, PAX headers, no
``trusted.overlay.*`` xattrs, hard links as links, and — with ``SOURCE_DATE_EPOCH`` — no
timestamp later than it. The same tree always gives the same bytes.
"""

from __future__ import annotations

import io
import os
import stat
import tarfile
from collections.abc import Collection
from typing import BinaryIO

from bake.content.dirfd import opened
from bake.content.gotar import GoTarInfo, go_tar
from bake.worker.inroot import Root
from bake.worker.writes import OPAQUE_MARKER, WHITEOUT_PREFIX

_OPAQUE_XATTRS = ("trusted.overlay.opaque", "user.overlay.opaque")


def write_layer(upper: str, out: BinaryIO, exclude: Collection[str] = (), source_date_epoch: int | None = None,
                lower: str | None = None) -> None:
    """Write ``upper`` as an uncompressed layer tar to ``out``.

    ``exclude`` lists paths (relative, ``/``-separated) the runtime created as mount points and
    that did not exist in the lower layers; they are left out of the layer. With ``lower`` (a
    view of the parent chain), directories overlay only copied up — same metadata as below, and
    nothing changed inside — are left out too, as BuildKit's overlay differ does."""
    entries = [rel for rel in _walk(upper) if rel not in exclude]
    skip = _copied_up(upper, lower, entries) if lower is not None else set()
    links: dict[tuple[int, int], str] = {}
    with go_tar(out) as tar:
        for rel in entries:
            if rel in skip:
                continue
            full = os.path.join(upper, rel)
            st = os.lstat(full)
            if stat.S_ISCHR(st.st_mode) and st.st_rdev == 0:  # an overlay whiteout
                parent, name = os.path.split(rel)
                tar.addfile(_marker(os.path.join(parent, WHITEOUT_PREFIX + name), st, source_date_epoch))
                continue
            info = _info(rel, full, st, source_date_epoch)
            if stat.S_ISREG(st.st_mode) and st.st_nlink > 1:
                key = (st.st_dev, st.st_ino)
                if key in links:
                    info.type = tarfile.LNKTYPE
                    info.linkname = links[key]
                    info.size = 0
                    tar.addfile(info)
                    continue
                links[key] = rel
            if info.isreg():
                with open(full, "rb") as f:
                    tar.addfile(info, f)
            else:
                tar.addfile(info)
            if stat.S_ISDIR(st.st_mode) and _is_opaque(full):
                tar.addfile(_marker(os.path.join(rel, OPAQUE_MARKER), st, source_date_epoch))


def layer_bytes(upper: str, exclude: Collection[str] = (), source_date_epoch: int | None = None,
                lower: str | None = None) -> bytes:
    buf = io.BytesIO()
    write_layer(upper, buf, exclude, source_date_epoch, lower)
    return buf.getvalue()


def _copied_up(upper: str, lower: str, entries: list[str]) -> set[str]:
    """Directories of ``upper`` identical to ``lower``'s with no layer entry beneath them."""
    same: set[str] = set()
    needed: set[str] = set()
    with Root(lower) as view:  # a lower symlink is resolved inside the view, never on the host
        for rel in entries:
            full = os.path.join(upper, rel)
            st = os.lstat(full)
            if stat.S_ISDIR(st.st_mode) and not _is_opaque(full):
                below = view.lstat(rel)
                if below is not None and stat.S_ISDIR(below.st_mode) and _meta(st) == _meta(below):
                    with opened(view.open(rel, follow=False)) as fd:
                        if _xattrs(full) == _xattrs(f"/proc/self/fd/{fd}", follow=True):
                            same.add(rel)
                            continue
            elif (stat.S_ISREG(st.st_mode) or stat.S_ISLNK(st.st_mode)) and _unchanged(full, st, view, rel):
                same.add(rel)  # copied up, or written again as it was (COPY . over files COPY'd before)
                continue
            parent = os.path.dirname(rel)
            while parent and parent not in needed:
                needed.add(parent)
                parent = os.path.dirname(parent)
    return same - needed


def _unchanged(full: str, st: os.stat_result, view: Root, rel: str) -> bool:
    """A file or link of the upper that is the lower's, by BuildKit's overlay differ's rule (after
    continuity's): same type, mode, owners and file capabilities, size and mtime seconds; then, when
    both times have no nanoseconds (unpacked from a tar), the same target or bytes, otherwise the
    same nanoseconds."""
    below = view.lstat(rel)
    if below is None or (st.st_mode, st.st_uid, st.st_gid, st.st_rdev, st.st_size, int(st.st_mtime)) != (
            below.st_mode, below.st_uid, below.st_gid, below.st_rdev, below.st_size, int(below.st_mtime)):
        return False
    if st.st_mtime_ns % 1_000_000_000 or below.st_mtime_ns % 1_000_000_000:
        return st.st_mtime_ns == below.st_mtime_ns and _capability(full) == _capability_below(view, rel)
    if stat.S_ISLNK(st.st_mode):
        dirfd, name = view.parent(rel)
        with opened(dirfd):
            return os.readlink(full) == os.readlink(name, dir_fd=dirfd)
    if _capability(full) != _capability_below(view, rel):
        return False
    if st.st_size == 0:
        return True
    with open(full, "rb") as mine, opened(view.open(rel, os.O_RDONLY, follow=False)) as fd:
        while True:
            a, b = mine.read(1 << 16), os.read(fd, 1 << 16)
            if a != b:
                return False
            if not a:
                return True


def _capability(path: str) -> bytes | None:
    try:
        return os.getxattr(path, "security.capability", follow_symlinks=False)
    except OSError:
        return None


def _capability_below(view: Root, rel: str) -> bytes | None:
    try:
        with opened(view.open(rel, follow=False)) as fd:
            return os.getxattr(f"/proc/self/fd/{fd}", "security.capability")
    except OSError:
        return None


def _meta(st: os.stat_result) -> tuple[int, ...]:
    # a directory's time is not compared (BuildKit's differ neither): one whose entries were only
    # rewritten as they were is unchanged; its parents of real changes are kept anyway
    return (st.st_mode, st.st_uid, st.st_gid)


def _walk(root: str) -> list[str]:
    """Every path under ``root``, relative, parents before children, siblings sorted by name.
    Sockets are left out: a layer cannot hold one, and BuildKit's differ skips them too."""
    out: list[str] = []

    def visit(rel: str) -> None:
        base = os.path.join(root, rel) if rel else root
        for name in sorted(os.listdir(base)):
            child = os.path.join(rel, name) if rel else name
            mode = os.lstat(os.path.join(root, child)).st_mode
            if stat.S_ISSOCK(mode):
                continue
            out.append(child)
            if stat.S_ISDIR(mode):
                visit(child)

    visit("")
    return out


def _info(rel: str, full: str, st: os.stat_result, sde: int | None) -> tarfile.TarInfo:
    info = GoTarInfo(rel)
    info.mode = stat.S_IMODE(st.st_mode)
    info.uid, info.gid = st.st_uid, st.st_gid
    info.uname = info.gname = ""
    info.mtime = min(int(st.st_mtime), sde) if sde is not None else int(st.st_mtime)
    if stat.S_ISDIR(st.st_mode):
        info.type = tarfile.DIRTYPE
    elif stat.S_ISLNK(st.st_mode):
        info.type = tarfile.SYMTYPE
        info.linkname = os.readlink(full)
    elif stat.S_ISREG(st.st_mode):
        info.type = tarfile.REGTYPE
        info.size = st.st_size
    elif stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode):
        info.type = tarfile.CHRTYPE if stat.S_ISCHR(st.st_mode) else tarfile.BLKTYPE
        info.devmajor, info.devminor = os.major(st.st_rdev), os.minor(st.st_rdev)
    elif stat.S_ISFIFO(st.st_mode):
        info.type = tarfile.FIFOTYPE
    else:
        raise ValueError(f"cannot put {rel} in a layer: unsupported file type")
    xattrs = _xattrs(full)
    if xattrs:
        info.pax_headers = {f"SCHILY.xattr.{k}": v.decode("utf-8", "surrogateescape") for k, v in sorted(xattrs.items())}
    return info


def _marker(rel: str, st: os.stat_result, sde: int | None) -> tarfile.TarInfo:
    info = GoTarInfo(rel)
    info.mode = 0
    info.uname = info.gname = ""
    info.mtime = min(int(st.st_mtime), sde) if sde is not None else int(st.st_mtime)
    return info


def _xattrs(path: str, follow: bool = False) -> dict[str, bytes]:
    try:
        names = os.listxattr(path, follow_symlinks=follow)
    except OSError:
        return {}
    out = {}
    for name in names:
        if name.startswith("trusted.overlay.") or name.startswith("user.overlay."):
            continue
        try:
            out[name] = os.getxattr(path, name, follow_symlinks=follow)
        except OSError:
            continue
    return out


def _is_opaque(path: str) -> bool:
    for name in _OPAQUE_XATTRS:
        try:
            if os.getxattr(path, name, follow_symlinks=False) in (b"y", b"x"):
                return True
        except OSError:
            continue
    return False
