"""The persistent cache index: cache key → result, one small file per key under ``<root>/cache``.

An entry is written atomically (temp file, fsync, rename) and only after its result is committed,
so a crash at any moment leaves either no entry or a whole one; two processes writing the same key
both write a valid result and the last rename wins. A file's mtime is the entry's last use
(``get`` touches it), which ``bake prune --filter until=`` reads.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

from bake._record import record
from bake.content.atomic import write_atomic
from bake.content.stateroot import StateRoot


@record
class Entry:
    key: str
    result: str
    last_used: float


class DirCache:
    def __init__(self, root: str) -> None:
        self.dir = StateRoot(root).cache

    def _path(self, key: str) -> str:
        hexpart = key.partition(":")[2]
        return os.path.join(self.dir, hexpart[:2], hexpart[2:])

    def get(self, key: str) -> str | None:
        path = self._path(key)
        try:
            with open(path) as f:
                result = f.read()
        except FileNotFoundError:
            return None
        with contextlib.suppress(OSError):  # a concurrent prune removed it: what we read is still whole
            os.utime(path)
        return result or None

    def put(self, key: str, result: str) -> None:
        path = self._path(key)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        write_atomic(path, result.encode())

    def remove(self, key: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self._path(key))

    def entries(self) -> Iterator[Entry]:
        if not os.path.isdir(self.dir):
            return
        for prefix in sorted(os.listdir(self.dir)):
            d = os.path.join(self.dir, prefix)
            if len(prefix) != 2 or not os.path.isdir(d):
                continue
            for name in sorted(os.listdir(d)):
                if name.endswith(".tmp"):
                    continue  # a write in progress
                path = os.path.join(d, name)
                try:
                    with open(path) as f:
                        result = f.read()
                    mtime = os.stat(path).st_mtime
                except FileNotFoundError:
                    continue
                yield Entry(f"sha256:{prefix}{name}", result, mtime)


class MemoryCache:
    """An in-process cache (tests, ``--no-cache``-only runs)."""

    def __init__(self) -> None:
        self.data: dict[str, str] = {}

    def get(self, key: str) -> str | None:
        return self.data.get(key)

    def put(self, key: str, result: str) -> None:
        self.data[key] = result
