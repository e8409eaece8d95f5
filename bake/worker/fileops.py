"""Graph file actions (copy, mkdir, mkfile, rm) applied to real directories, with COPY's rules.

Both the source and the destination are untrusted trees: every path is resolved inside its own
root (``inroot.Root``) and every change is made through directory descriptors, so no symlink a
base image, a tarball or an earlier RUN planted can take a write out of the root. As in BuildKit,
the destination *path* follows links inside the root; inside a copied tree a directory never
merges into a link (``cannot copy to non-directory``) and a file replaces a link rather than
writing through it. ``--chown`` names resolve through the *destination's* passwd and group
files; ``--chmod`` takes octal or symbolic modes; wildcards, ``--exclude``, ``--parents`` and
archive unpacking behave as in BuildKit.
"""

from __future__ import annotations

import fnmatch
import os
import posixpath
import re
import stat
import tarfile

from bake.content.atomic import FULL, NoSpaceError
from bake.content.dirfd import opened
from bake.graph.ops import Copy, FileAction, Mkdir, Mkfile, Rm
from bake.worker.dockerignore import Matcher
from bake.worker.errors import FileOpError, UnsafePathError
from bake.worker.inroot import Root, chmod_fd
from bake.worker.users import resolve_user
from bake.worker.writes import Attrs, copy_data, extract, set_attrs


def apply_actions(root: str, actions: tuple[FileAction, ...], sources: list[str]) -> None:
    """Apply ``actions`` to the tree at ``root``; a Copy reads from ``sources[copy.source]``."""
    with Root(root) as dest:
        try:
            for action in actions:
                if isinstance(action, Copy):
                    with Root(sources[action.source]) as src:
                        _copy(dest, src, action)
                elif isinstance(action, Mkdir):
                    _mkdir(dest, action)
                elif isinstance(action, Mkfile):
                    _mkfile(dest, action)
                else:
                    _rm(dest, action)
        except UnsafePathError as e:
            raise FileOpError(str(e)) from e
        except OSError as e:
            if e.errno in FULL:
                raise NoSpaceError(root, f"the files of {_describe(action)}") from e
            raise FileOpError(f"{_describe(action)}: {e.strerror or e}") from e


def _describe(action: FileAction) -> str:
    if isinstance(action, Copy):
        return f"copy {action.src} to {action.dest}"
    kind = {Mkdir: "mkdir", Mkfile: "write file"}.get(type(action), "rm")
    return f"{kind} {action.path}"


def _owner(root: Root, spec: str) -> tuple[int, int] | None:
    if not spec or os.geteuid() != 0:
        return None
    uid, gid, _ = resolve_user(root.path, spec, chown=True)
    return uid, gid


def _made(root: Root, path: str, mode: int, owner: tuple[int, int] | None) -> int:
    """``mkdir -p path`` whose new directories get ``mode`` and ``owner``, as BuildKit gives the
    directories a COPY (or WORKDIR) creates its ``--chmod`` and ``--chown``; an fd of ``path``."""
    fd, created = root.makedirs(path, mode)
    for rel in created:
        dirfd, name = root.parent(rel)
        with opened(dirfd):
            set_attrs(dirfd, name, Attrs(mode=mode, owner=owner))
    return fd


def _dir_mode(chmod_spec: str) -> int:
    """The mode of the parent directories a COPY creates: an octal ``--chmod``'s, else 0755."""
    return int(chmod_spec, 8) if re.fullmatch(r"[0-7]{1,4}", chmod_spec or "") else 0o755


def _mkdir(root: Root, m: Mkdir) -> None:
    parts = root.canonical(m.path)
    if m.make_parents:
        fd = _made(root, "/".join(parts), m.mode, _owner(root, m.chown))
    else:
        with opened(root.open("/".join(parts[:-1]), os.O_PATH | os.O_DIRECTORY)) as parent:
            if parts and not _is_dir_at(parent, parts[-1]):
                os.mkdir(parts[-1], m.mode, dir_fd=parent)
        fd = root.open("/".join(parts), os.O_PATH | os.O_DIRECTORY)
    with opened(fd):
        owner = _owner(root, m.chown)
        if owner is not None:
            os.chown(f"/proc/self/fd/{fd}", *owner)
        chmod_fd(fd, m.mode)


def _mkfile(root: Root, m: Mkfile) -> None:
    parts = root.canonical(m.path)  # a link in the last place is followed inside the root, as BuildKit does
    if not parts:
        raise FileOpError(f"cannot write file {m.path}: it is the root directory")
    dirfd = _made(root, "/".join(parts[:-1]), 0o755, _owner(root, m.chown))
    with opened(dirfd):
        if _is_dir_at(dirfd, parts[-1]):
            raise FileOpError(f"cannot write file {m.path}: it is a directory")
        fd = os.open(parts[-1], os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600,
                     dir_fd=dirfd)
        with opened(fd):
            _write_all(fd, m.data)
        set_attrs(dirfd, parts[-1], Attrs(mode=m.mode, owner=_owner(root, m.chown)))


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def _rm(root: Root, r: Rm) -> None:
    rel = posixpath.normpath("/" + r.path).lstrip("/")
    if r.allow_wildcard and any(ch in rel for ch in "*?["):
        paths = [p for p in _all_paths(root) if fnmatch.fnmatchcase(p, rel)]
    else:
        paths = [rel]
    for p in paths:
        if not root.remove(p) and not r.allow_not_found:
            raise FileOpError(f"rm {r.path}: no such file or directory")


def _is_dir_at(dirfd: int, name: str) -> bool:
    try:
        return stat.S_ISDIR(os.stat(name, dir_fd=dirfd, follow_symlinks=False).st_mode)
    except FileNotFoundError:
        return False


# --- COPY / ADD --------------------------------------------------------------------------------


def _copy(dest: Root, src: Root, c: Copy) -> None:
    matches = _sources(src, c)
    found = [(rel, src.canonical(rel, follow=c.follow_symlinks)) for rel in matches]
    is_dir: dict[str, bool] = {}  # each source looked at once
    for rel, parts in found:
        st = src.lstat("/".join(parts))
        if parts and st is None:  # a link to nothing inside the source
            raise FileOpError(f'failed to compute cache key: "/{rel}": not found')
        is_dir[rel] = st is not None and stat.S_ISDIR(st.st_mode)
    dest_is_dir = c.dest.endswith("/") or len(found) > 1 or any(is_dir.values())
    owner = _owner(dest, c.chown)
    links = _Links(dest)
    exclude = Matcher(c.exclude) if c.exclude else None
    pivot = _pivot(c.src) if c.parents else ""
    for rel, parts in found:
        if c.parents:
            suffix = rel[len(pivot):].lstrip("/") if pivot and rel.startswith(pivot + "/") else rel
        elif dest_is_dir and not (is_dir[rel] and c.dir_contents_only):
            suffix = posixpath.basename(rel.rstrip("/")) or "."
        else:
            suffix = ""
        if c.unpack and _is_archive(src, parts):
            with opened(_made(dest, c.dest, _dir_mode(c.chmod), owner)) as into, \
                    opened(src.open("/".join(parts), os.O_RDONLY)) as archive, \
                    open(archive, "rb", closefd=False) as f, tarfile.open(fileobj=f) as tar, \
                    dest.sub(into) as directory:
                extract(tar, directory)  # confined to the destination directory, as BuildKit's chrooted untar
            continue
        # the destination path follows links inside the root; a name added to it does not (BuildKit)
        if suffix in ("", "."):
            target_parts = dest.canonical(c.dest)
        else:
            target_parts = [*dest.canonical(posixpath.join(c.dest, posixpath.dirname(suffix))),
                            posixpath.basename(suffix)]
        parent = "/".join(target_parts[:-1])
        with opened(_made(dest, parent, _dir_mode(c.chmod), owner) if target_parts else os.dup(dest.fd)) as dst_dir, \
                opened(src.parent("/".join(parts))[0] if parts else os.dup(src.fd)) as src_dir:
            name = target_parts[-1] if target_parts else "."
            src_name = parts[-1] if parts else "."
            shown = "/" + "/".join(target_parts)
            if name != "." and _is_dir_at(dst_dir, name) and not _is_dir_at(src_dir, src_name):
                with opened(os.open(name, os.O_PATH | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=dst_dir)) as inner:
                    base = posixpath.basename(rel) or src_name
                    _copy_entry(src_dir, src_name, inner, base, c, owner, exclude, "", posixpath.join(shown, base), links)
                continue
            _copy_entry(src_dir, src_name, dst_dir, name, c, owner, exclude, "", shown, links)


class _Links:
    """The files of one COPY that are hard links: the first copy of an inode is data, later
    names of it become links to that copy (BuildKit keeps hard links within what one COPY copies)."""

    def __init__(self, dest: Root) -> None:
        self.dest = dest
        self.first: dict[tuple[int, int], str] = {}  # (device, inode) in the source → path in dest

    def linked(self, st: os.stat_result, dst_dir: int, name: str, shown: str) -> bool:
        """Make ``dst_dir/name`` a link to an earlier copy of the same inode; False for the first."""
        if not stat.S_ISREG(st.st_mode) or st.st_nlink < 2:
            return False
        first = self.first.setdefault((st.st_dev, st.st_ino), shown)
        if first == shown:
            return False
        fd, first_name = self.dest.parent(first)
        with opened(fd):
            os.link(first_name, name, src_dir_fd=fd, dst_dir_fd=dst_dir, follow_symlinks=False)
        return True


def _copy_entry(src_dir: int, src_name: str, dst_dir: int, name: str, c: Copy, owner: tuple[int, int] | None,
                exclude: Matcher | None, rel: str, shown: str, links: _Links) -> None:
    """Copy ``src_dir/src_name`` to ``dst_dir/name`` (``shown`` in the destination's root);
    neither name is followed if it is a link."""
    if exclude is not None and rel and exclude.excluded(rel):
        return
    st = os.stat(src_name, dir_fd=src_dir, follow_symlinks=False)
    try:
        existing: os.stat_result | None = os.stat(name, dir_fd=dst_dir, follow_symlinks=False)
    except FileNotFoundError:
        existing = None
    if stat.S_ISDIR(st.st_mode):
        if existing is not None and not stat.S_ISDIR(existing.st_mode):
            raise FileOpError(f"cannot copy to non-directory: {shown}")
        if existing is None:
            os.mkdir(name, 0o700, dir_fd=dst_dir)
        with opened(os.open(src_name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=src_dir)) as s, \
                opened(os.open(name, os.O_PATH | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dst_dir)) as d:
            for child in sorted(os.listdir(s)):
                _copy_entry(s, child, d, child, c, owner, exclude, f"{rel}/{child}" if rel else child,
                            posixpath.join(shown, child), links)
        if existing is None:
            _attrs(dst_dir, name, st, c, owner)
        return
    if existing is not None:
        if stat.S_ISDIR(existing.st_mode):
            raise FileOpError(f"cannot replace to directory {shown} with file")
        os.unlink(name, dir_fd=dst_dir)  # a link is replaced, never written through
    if links.linked(st, dst_dir, name, shown):
        return
    if stat.S_ISLNK(st.st_mode):
        os.symlink(os.readlink(src_name, dir_fd=src_dir), name, dir_fd=dst_dir)
    elif stat.S_ISREG(st.st_mode):
        copy_data(src_dir, src_name, dst_dir, name)
    else:
        raise FileOpError(f"cannot copy {shown}: not a regular file, directory or symlink")
    _attrs(dst_dir, name, st, c, owner)


def _attrs(dirfd: int, name: str, st: os.stat_result, c: Copy, owner: tuple[int, int] | None) -> None:
    mode = stat.S_IMODE(st.st_mode)
    if c.chmod:
        mode = chmod(c.chmod, mode, stat.S_ISDIR(st.st_mode))
    if owner is None and os.geteuid() == 0:
        # without --chown the source's owners are kept, as BuildKit keeps them (a build context's
        # files are root's: the context's copy makes them so, as buildx's transfer resets them)
        owner = (st.st_uid, st.st_gid)
    mtime = c.timestamp if c.timestamp is not None else st.st_mtime
    set_attrs(dirfd, name, Attrs(mode=mode, owner=owner, mtime=mtime))


def _pivot(src: str) -> str:
    """``--parents``: the part of ``src`` before a ``/./``, which the destination leaves out
    (``./src/nested/./deep/f`` keeps ``deep/f``), normalized; "" when there is none."""
    while src.startswith("./"):
        src = src[2:]
    if "/./" not in src:
        return ""
    return posixpath.normpath("/" + src.split("/./", 1)[0]).lstrip("/")


def _sources(src: Root, c: Copy) -> list[str]:
    rel = posixpath.normpath("/" + c.src).lstrip("/")
    if c.allow_wildcard and any(ch in rel for ch in "*?["):
        found = sorted(p for p in _all_paths(src) if fnmatch.fnmatchcase(p, rel)
                       and p.count("/") == rel.count("/"))
        if not found and not c.allow_empty_wildcard:
            raise FileOpError(f"no source files were specified: {c.src} matched nothing")
        return found
    if src.lstat("/".join(src.canonical(rel, follow=False))) is None and rel:
        raise FileOpError(f'failed to compute cache key: "/{rel}": not found')
    return [rel]


def _all_paths(root: Root) -> list[str]:
    """Every path in ``root``, relative; links are listed, never entered."""
    out: list[str] = []

    def walk(fd: int, rel: str) -> None:
        with os.scandir(fd) as it:
            entries = sorted(it, key=lambda e: e.name)
        for entry in entries:
            path = f"{rel}/{entry.name}" if rel else entry.name
            out.append(path)
            if entry.is_dir(follow_symlinks=False):
                with opened(os.open(entry.name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=fd)) as child:
                    walk(child, path)

    with opened(root.open(".", os.O_RDONLY | os.O_DIRECTORY)) as top:
        walk(top, "")
    return out


def _is_archive(root: Root, parts: list[str]) -> bool:
    st = root.lstat("/".join(parts))
    if st is None or not stat.S_ISREG(st.st_mode):
        return False
    with opened(root.open("/".join(parts), os.O_RDONLY)) as fd, open(fd, "rb", closefd=False) as f:
        try:
            with tarfile.open(fileobj=f):
                return True
        except tarfile.TarError:
            return False


_SYMBOLIC = re.compile(r"^([ugoa]*)([-+=])([rwxXst]*)$")


def chmod(spec: str, current: int, is_dir: bool) -> int:
    """An octal (``755``) or symbolic (``u+x,g-w,o=r``) mode applied to ``current``."""
    if re.fullmatch(r"[0-7]{1,4}", spec):
        return int(spec, 8)
    mode = current
    for clause in spec.split(","):
        m = _SYMBOLIC.match(clause)
        if not m:
            raise FileOpError(f"invalid chmod {spec!r}")
        who, op, perms = m.group(1) or "a", m.group(2), m.group(3)
        shifts = {"u": 6, "g": 3, "o": 0}
        targets = "ugo" if "a" in who else who
        bits = 0
        for p in perms:
            for t in targets:
                if p == "r":
                    bits |= 4 << shifts[t]
                elif p == "w":
                    bits |= 2 << shifts[t]
                elif p == "x" or (p == "X" and (is_dir or current & 0o111)):
                    bits |= 1 << shifts[t]
            if p == "s":
                bits |= (0o4000 if "u" in targets else 0) | (0o2000 if "g" in targets else 0)
            if p == "t":
                bits |= 0o1000
        if op == "+":
            mode |= bits
        elif op == "-":
            mode &= ~bits
        else:
            mask = sum(0o7 << shifts[t] for t in targets)
            mode = (mode & ~mask) | bits
    return mode
