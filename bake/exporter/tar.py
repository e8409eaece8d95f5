"""``type=tar,dest=FILE``: the built filesystem as one tarball (``-`` writes to stdout).

Entries are sorted, so the same filesystem gives the same bytes. The file is written through
``atomic_file``: a failed export leaves the previous file untouched. A missing parent directory of
``dest`` is created, as buildx does; a full disk is a ``NoSpaceError`` naming ``dest``.
"""

from __future__ import annotations

import os
import sys
import tarfile
from collections.abc import Sequence
from typing import BinaryIO

from bake.content.atomic import atomic_file, disk_full_is_an_error


def export_tar(trees: Sequence[tuple[str, str | None]], dest: str) -> None:
    """Write each (subdirectory, tree) under ``subdirectory/`` of the archive ("" for its root)."""
    if dest == "-":
        _write(trees, sys.stdout.buffer)
        sys.stdout.buffer.flush()
        return
    with disk_full_is_an_error(dest):
        os.makedirs(os.path.dirname(os.path.abspath(dest)), exist_ok=True)
        with atomic_file(dest) as f:
            _write(trees, f)


def _write(trees: Sequence[tuple[str, str | None]], out: BinaryIO) -> None:
    with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as tar:
        for sub, tree in trees:
            if sub:
                info = tarfile.TarInfo(sub)
                info.type = tarfile.DIRTYPE
                info.mode = 0o755
                tar.addfile(info)
            if tree is None:
                continue
            for rel in _walk(tree):
                full = os.path.join(tree, rel)
                info = tar.gettarinfo(full, arcname=f"{sub}/{rel}" if sub else rel)
                info.uname = info.gname = ""
                if info.isreg():
                    with open(full, "rb") as f:
                        tar.addfile(info, f)
                else:
                    tar.addfile(info)


def _walk(root: str) -> list[str]:
    out: list[str] = []

    def visit(rel: str) -> None:
        base = os.path.join(root, rel)
        for name in sorted(os.listdir(base)):
            child = f"{rel}/{name}" if rel else name
            out.append(child)
            full = os.path.join(root, child)
            if os.path.isdir(full) and not os.path.islink(full):
                visit(child)

    visit("")
    return out
