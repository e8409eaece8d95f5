"""``type=local,dest=DIR``: the built filesystem written into a directory.

Each tree is first copied (``cp -a``: modes, times, links, xattrs; not owners) into a temporary
directory beside the destination, then moved in entry by entry, so an interrupted export never
leaves a half-copied file under ``dest``. Entries already in ``dest`` that the build does not
produce stay, as with buildx.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Sequence

from bake.errors import BakeError


class ExportError(BakeError):
    """An output could not be written."""


def export_local(trees: Sequence[tuple[str, str | None]], dest: str) -> None:
    """Write each (subdirectory, tree) to ``dest/subdirectory`` ("" for ``dest`` itself); a None
    tree is an empty filesystem. The files belong to whoever runs bake, as BuildKit's local
    exporter writes them (the ids inside an image mean nothing on the host)."""
    os.makedirs(dest, exist_ok=True)
    staging = tempfile.mkdtemp(prefix=".bake-export-", dir=os.path.dirname(os.path.abspath(dest)))
    try:
        for sub, tree in trees:
            target = os.path.join(staging, sub)
            os.makedirs(target, exist_ok=True)
            if tree is not None:
                proc = subprocess.run(["cp", "-a", "--no-preserve=ownership", "--", tree + "/.", target],
                                      capture_output=True, text=True)
                if proc.returncode != 0:
                    raise ExportError(f"local output {dest}: {proc.stderr.strip()}")
        _move_into(staging, dest)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _move_into(src: str, dest: str) -> None:
    for name in sorted(os.listdir(src)):
        s, d = os.path.join(src, name), os.path.join(dest, name)
        if os.path.isdir(s) and not os.path.islink(s) and os.path.isdir(d) and not os.path.islink(d):
            _move_into(s, d)
            shutil.copystat(s, d)
            continue
        if os.path.lexists(d):
            if os.path.isdir(d) and not os.path.islink(d):
                shutil.rmtree(d)
            else:
                os.unlink(d)
        os.rename(s, d)
