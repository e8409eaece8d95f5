"""Graph file actions (copy, mkdir, mkfile, rm) applied to real directories, with COPY's rules.

Sources are confined to their input's root and destinations to the target root (symlinks are
resolved inside each root). ``--chown`` names resolve through the *destination's* passwd and
group files; ``--chmod`` takes octal or symbolic modes; wildcards, ``--exclude``, ``--parents``
and archive unpacking behave as in BuildKit.
"""

from __future__ import annotations

import fnmatch
import os
import posixpath
import re
import shutil
import stat
import tarfile

from bake.errors import BakeError
from bake.graph.ops import Copy, FileAction, Mkdir, Mkfile, Rm
from bake.worker.dockerignore import Matcher
from bake.worker.executor import resolve_user
from bake.worker.unpack import secure_join


class FileOpError(BakeError):
    """A file action cannot be applied (missing source, bad mode, …)."""


def apply_actions(root: str, actions: tuple[FileAction, ...], sources: list[str]) -> None:
    """Apply ``actions`` to the tree at ``root``; a Copy reads from ``sources[copy.source]``."""
    for action in actions:
        if isinstance(action, Copy):
            copy(root, sources[action.source], action)
        elif isinstance(action, Mkdir):
            target = secure_join(root, action.path)
            if action.make_parents:
                os.makedirs(target, exist_ok=True)
            elif not os.path.isdir(target):
                os.mkdir(target)
            os.chmod(target, action.mode)
            _chown(root, target, action.chown)
        elif isinstance(action, Mkfile):
            target = secure_join(root, action.path)
            os.makedirs(os.path.dirname(target), exist_ok=True)
            with open(target, "wb") as f:
                f.write(action.data)
            os.chmod(target, action.mode)
            _chown(root, target, action.chown)
        else:
            _rm(root, action)


def copy(root: str, source_root: str, c: Copy) -> None:
    matches = _sources(source_root, c)
    dest_is_dir = c.dest.endswith("/") or len(matches) > 1 or any(
        os.path.isdir(secure_join(source_root, m, follow_last=c.follow_symlinks)) for m in matches)
    for rel in matches:
        src = secure_join(source_root, rel, follow_last=c.follow_symlinks)
        if c.parents:
            dest = posixpath.join(c.dest, rel)
        elif dest_is_dir and not (os.path.isdir(src) and c.dir_contents_only):
            dest = posixpath.join(c.dest, posixpath.basename(rel.rstrip("/")) or ".")
        else:
            dest = c.dest
        if c.unpack and os.path.isfile(src) and tarfile.is_tarfile(src):
            into = secure_join(root, c.dest)  # an archive unpacks into the destination directory
            os.makedirs(into, exist_ok=True)
            _untar(src, into)
            continue
        target = secure_join(root, dest)
        exclude = Matcher(c.exclude) if c.exclude else None
        _copy_tree(src, target, c, root, exclude, "")


def _sources(source_root: str, c: Copy) -> list[str]:
    rel = posixpath.normpath("/" + c.src).lstrip("/")
    if c.allow_wildcard and any(ch in rel for ch in "*?["):
        found = sorted(p for p in _all_paths(source_root) if fnmatch.fnmatchcase(p, rel)
                       and p.count("/") == rel.count("/"))
        if not found and not c.allow_empty_wildcard:
            raise FileOpError(f"no source files were specified: {c.src} matched nothing")
        return found
    if not os.path.lexists(secure_join(source_root, rel)):
        raise FileOpError(f'failed to compute cache key: "/{rel}": not found')
    return [rel] if rel else [""]


def _all_paths(root: str) -> list[str]:
    out = []
    for dirpath, dirs, files in os.walk(root):
        rel = os.path.relpath(dirpath, root)
        for name in dirs + files:
            out.append(name if rel == "." else f"{rel}/{name}")
    return out


def _copy_tree(src: str, target: str, c: Copy, root: str, exclude: Matcher | None, rel: str) -> None:
    if exclude is not None and rel and exclude.excluded(rel):
        return
    st = os.lstat(src)
    if stat.S_ISDIR(st.st_mode):
        existed = os.path.isdir(target)
        if os.path.lexists(target) and not existed:
            os.unlink(target)
        os.makedirs(target, exist_ok=True)
        for name in sorted(os.listdir(src)):
            _copy_tree(os.path.join(src, name), os.path.join(target, name), c, root, exclude, f"{rel}/{name}" if rel else name)
        if not existed:
            _attrs(target, st, c, root)
        return
    os.makedirs(os.path.dirname(target), exist_ok=True)
    if os.path.isdir(target) and not os.path.islink(target):
        target = os.path.join(target, os.path.basename(src))
    if os.path.lexists(target):
        os.unlink(target)
    if stat.S_ISLNK(st.st_mode):
        os.symlink(os.readlink(src), target)
    elif stat.S_ISREG(st.st_mode):
        shutil.copyfile(src, target)
    else:
        raise FileOpError(f"cannot copy {src}: not a regular file, directory or symlink")
    _attrs(target, st, c, root)


def _attrs(path: str, st: os.stat_result, c: Copy, root: str) -> None:
    if not os.path.islink(path):
        os.chmod(path, chmod(c.chmod, stat.S_IMODE(st.st_mode), os.path.isdir(path)) if c.chmod else stat.S_IMODE(st.st_mode))
    if c.chown:
        _chown(root, path, c.chown)
    elif os.geteuid() == 0:
        os.lchown(path, 0, 0)  # COPY without --chown gives root ownership, as Docker does
    mtime = c.timestamp if c.timestamp is not None else st.st_mtime
    os.utime(path, (mtime, mtime), follow_symlinks=False)


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


def _chown(root: str, path: str, spec: str) -> None:
    if not spec or os.geteuid() != 0:
        return
    uid, gid, _ = resolve_user(root, spec)
    os.lchown(path, uid, gid)


def _rm(root: str, r: Rm) -> None:
    rel = posixpath.normpath("/" + r.path).lstrip("/")
    if r.allow_wildcard and any(ch in rel for ch in "*?["):
        paths = [p for p in _all_paths(root) if fnmatch.fnmatchcase(p, rel)]
    else:
        paths = [rel]
    for p in paths:
        target = secure_join(root, p)
        if os.path.isdir(target) and not os.path.islink(target):
            shutil.rmtree(target)
        elif os.path.lexists(target):
            os.unlink(target)
        elif not r.allow_not_found:
            raise FileOpError(f"rm {r.path}: no such file or directory")


def _untar(archive: str, target: str) -> None:
    """ADD's auto-extraction: every member confined to ``target``."""
    with tarfile.open(archive) as tar:
        for m in tar:
            dest = secure_join(target, m.name)
            if m.isdir():
                os.makedirs(dest, exist_ok=True)
            elif m.isreg():
                os.makedirs(os.path.dirname(dest), exist_ok=True)
                f = tar.extractfile(m)
                assert f is not None
                with open(dest, "wb") as out:
                    shutil.copyfileobj(f, out)
                os.chmod(dest, m.mode)
            elif m.issym():
                os.makedirs(os.path.dirname(dest), exist_ok=True)
                if os.path.lexists(dest):
                    os.unlink(dest)
                os.symlink(m.linkname, dest)
