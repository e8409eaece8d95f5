"""What the last ``type=local`` export left in each destination, so that exporting the same results
again can be skipped when it would write nothing.

A local export syncs entry by entry, comparing type, size, mode, modification time and link
target, and re-applies each directory's mode and times (``bake/exporter/local.py``). After an
export, ``note`` records per target and destination the result ids and a fingerprint of exactly
those attributes of every entry below the destination. If the same results — snapshots never
change once committed — are to be exported again and the destination's fingerprint is unchanged,
``in_sync`` says so: a sync would find every entry equal and write nothing, so neither the mount
of the results nor the sync is needed. Root's builds (``app/outputs.py``) and an ordinary user's
all-cached answer (``app/outside.py``) read the same records.

The records live under ``StateRoot.exported``, one JSON file per (target, destination); a record
that cannot be read or has the wrong shape is a miss, and writing one is best effort.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import stat
from collections.abc import Iterator, Sequence

from bake.content.atomic import write_atomic
from bake.content.stateroot import StateRoot


def in_sync(root: str, target: str, dest: str, ids: Sequence[str | None]) -> bool:
    """Whether ``dest`` (absolute) holds exactly what exporting ``ids`` for ``target`` left there."""
    try:
        with open(_record_path(root, target, dest), "rb") as f:
            doc = json.loads(f.read())
        return (isinstance(doc, dict) and doc.get("dest") == dest and doc.get("results") == list(ids)
                and doc.get("fingerprint") == fingerprint(dest))
    except (OSError, ValueError):
        return False


def note(root: str, target: str, dest: str, ids: Sequence[str | None]) -> None:
    """Record that ``dest`` (absolute) now holds the export of ``ids`` for ``target``. Best effort:
    an output that cannot be read, or a root that cannot be written, just leaves no record."""
    with contextlib.suppress(OSError):
        doc = {"dest": dest, "results": list(ids), "fingerprint": fingerprint(dest)}
        path = _record_path(root, target, dest)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        write_atomic(path, json.dumps(doc).encode())


def fingerprint(dest: str) -> str:
    """A digest of what a local export compares and sets for every entry below ``dest``: relative
    path, type, mode, size and modification time, and link targets (links are never followed)."""
    h = hashlib.sha256()
    for rel, st, link in _walk(dest, ""):
        size = st.st_size if stat.S_ISREG(st.st_mode) else 0
        h.update(f"{rel}\0{st.st_mode:o}\0{size}\0{st.st_mtime_ns}\0{link}\n".encode("utf-8", "surrogateescape"))
    return h.hexdigest()


def dest_path(cwd: str, dest: str) -> str:
    """An output's ``dest`` as the absolute path records are keyed by."""
    return os.path.abspath(dest if os.path.isabs(dest) else os.path.join(cwd, dest))


def _walk(top: str, rel: str) -> Iterator[tuple[str, os.stat_result, str]]:
    with os.scandir(os.path.join(top, rel) if rel else top) as it:
        entries = sorted(it, key=lambda e: e.name)
    for entry in entries:
        path = f"{rel}/{entry.name}" if rel else entry.name
        st = entry.stat(follow_symlinks=False)
        yield path, st, os.readlink(entry.path) if stat.S_ISLNK(st.st_mode) else ""
        if stat.S_ISDIR(st.st_mode):
            yield from _walk(top, path)


def _record_path(root: str, target: str, dest: str) -> str:
    name = hashlib.sha256(f"{target}\0{dest}".encode("utf-8", "surrogateescape")).hexdigest()
    return os.path.join(StateRoot(root).exported, name + ".json")
