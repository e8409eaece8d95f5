"""Whole-file writes that are never seen half-done: a temp file beside the target, fsync, rename."""

from __future__ import annotations

import os


def write_atomic(path: str, data: bytes) -> None:
    tmp = f"{path}.{os.getpid()}.tmp"  # per process: concurrent writers never share a temp file
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
