"""Local build contexts: the files a build may read, and their content checksums.

Files are selected with ``.dockerignore`` patterns (Docker's rules) and an optional list of
paths a step reads, so a change elsewhere in the context is not a cache miss. Symlinks are
recorded as links, never followed (a link to ``/etc/shadow`` stays a link). Content digests are
kept in a stat cache — path → (size, mtime, inode, digest) — so an unchanged context is only
``stat``ed, never re-read.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import stat
from collections.abc import Iterable

from bake.content.atomic import NoSpaceError, atomic_file
from bake.content.jsonstate import is_digest, load_map
from bake.worker.dockerignore import Matcher

_CHUNK = 1 << 20


Listing = list[tuple[str, os.stat_result]]  # (context-relative path, lstat) of every selected entry, sorted


class StatCache:
    """File digests keyed by path and validated by (size, mtime_ns, inode); saved atomically.
    Also, in memory only, the last walk of each context (``listing``)."""

    def __init__(self, path: str | None = None) -> None:
        self.path = path
        self.entries: dict[str, list[object]] = {}
        self.walks: dict[tuple[str, tuple[str, ...]], Listing] = {}
        self.hits = 0
        self.misses = 0
        if path:
            self.entries, _ = load_map(path, _valid)  # a damaged entry is hashed again, never trusted

    def digest(self, full: str, st: os.stat_result) -> str:
        entry = self.entries.get(full)
        if entry is not None and entry[0] == st.st_size and entry[1] == st.st_mtime_ns and entry[2] == st.st_ino:
            self.hits += 1
            return str(entry[3])
        key = [st.st_size, st.st_mtime_ns, st.st_ino]
        self.misses += 1
        h = hashlib.sha256()
        with open(full, "rb") as f:
            while chunk := f.read(_CHUNK):
                h.update(chunk)
        value = "sha256:" + h.hexdigest()
        self.entries[full] = [*key, value]
        return value

    def save(self) -> None:
        """Write the cache (atomically); a full disk only costs the next build some hashing. Nothing
        hashed since it was loaded (a warm rebuild): nothing to write."""
        if not self.path or not self.misses:
            return
        os.makedirs(os.path.dirname(self.path), exist_ok=True)
        with contextlib.suppress(NoSpaceError), atomic_file(self.path) as f:
            f.write(json.dumps(self.entries).encode())


def _valid(_path: str, entry: object) -> bool:
    """``[size, mtime_ns, inode, digest]``."""
    return (isinstance(entry, list) and len(entry) == 4 and all(type(x) is int for x in entry[:3])
            and is_digest(entry[3]))


def files(root: str, excludes: Iterable[str] = ()) -> list[str]:
    """Context-relative paths (``/``-separated, sorted) not excluded by the patterns."""
    return [rel for rel, _ in _entries(root, Matcher(excludes))]


def listing(root: str, excludes: Iterable[str], cache: StatCache) -> Listing:
    """The entries the last ``checksum`` of this context with ``cache`` read (so what its digest
    says), else a walk now: a second reader of the context (``--explain``'s records) walks nothing."""
    key = (root, tuple(excludes))
    found = cache.walks.get(key)
    if found is None:
        found = cache.walks[key] = _entries(root, Matcher(key[1]))
    return found


def _entries(root: str, matcher: Matcher) -> Listing:
    """(path, lstat) of every selected entry, sorted. An excluded directory is still walked when
    an exception (``!pattern``) might re-include something inside it, as Docker does."""
    out: Listing = []
    check = bool(matcher.patterns)

    def walk(rel: str, base: str) -> None:
        with os.scandir(base) as it:
            entries = sorted(it, key=lambda e: e.name)
        for e in entries:
            child = f"{rel}/{e.name}" if rel else e.name
            st = e.stat(follow_symlinks=False)
            excluded = check and matcher.excluded(child)
            if stat.S_ISDIR(st.st_mode):
                if not excluded:
                    out.append((child, st))
                if not excluded or matcher.has_exclusions:
                    walk(child, e.path)
            elif not excluded:
                out.append((child, st))

    walk("", root)
    return out


def checksum(root: str, excludes: Iterable[str] = (), selected: Iterable[str] | None = None,
             cache: StatCache | None = None) -> str:
    """One digest for the selected part of a context: paths, types, modes, link targets and contents.

    ``selected`` narrows it to some paths (and everything below them), e.g. the sources of a COPY."""
    cache = cache or StatCache()
    wanted = [s.strip("/") for s in selected] if selected is not None else None
    h = hashlib.sha256()
    patterns = tuple(excludes)
    entries = cache.walks[(root, patterns)] = _entries(root, Matcher(patterns))  # always walked: a key is never stale
    for rel, st in entries:
        if wanted is not None and not any(rel == w or rel.startswith(w + "/") or w in ("", ".") for w in wanted):
            continue
        full = os.path.join(root, rel)
        mode = stat.S_IMODE(st.st_mode)
        if stat.S_ISLNK(st.st_mode):
            entry = f"L {rel} {os.readlink(full)}"
        elif stat.S_ISDIR(st.st_mode):
            entry = f"D {rel} {mode:o}"
        elif stat.S_ISREG(st.st_mode):
            entry = f"F {rel} {mode:o} {cache.digest(full, st)}"
        else:
            entry = f"O {rel} {mode:o} {st.st_mode >> 12}"
        h.update(entry.encode("utf-8", "surrogateescape") + b"\0")
    return "sha256:" + h.hexdigest()
