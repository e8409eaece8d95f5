"""Apply an OCI layer tar onto a directory, safely.

Whiteouts (``.wh.<name>``) delete, opaque markers (``.wh..wh..opq``) empty a directory of what
lower layers put there. No entry may land outside the root: every entry goes through the in-root
resolver (``inroot``), so absolute names, ``..`` and symlinks met on the way — planted by this
or an earlier layer — stay inside it. Hard links must point inside the root too. Device nodes
are only created when running as root.
"""

from __future__ import annotations

import tarfile
from typing import BinaryIO

from bake.worker.inroot import Root
from bake.worker.writes import extract


def apply_layer(stream: BinaryIO, root: str) -> list[str]:
    """Apply the layer read from ``stream`` onto ``root``; returns the paths it wrote."""
    with Root(root) as r, tarfile.open(fileobj=stream, mode="r|*") as tar:
        return extract(tar, r, layer=True)
