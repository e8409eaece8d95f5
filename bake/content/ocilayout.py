"""Image configs read from OCI image layouts on disk (``oci-layout`` + ``index.json`` + blobs): an
``ImageConfigResolver`` for the frontend (``bake.dockerfile.config``'s protocol, met structurally).

Images are found by the ``org.opencontainers.image.ref.name`` annotation in ``index.json`` (either
the full reference or just its tag); an image index is resolved to the manifest for the platform.
Digests are verified on read. The registry-backed resolver comes with the worker; layouts are
written by ``bake.exporter.ocilayout``.
"""

from __future__ import annotations

import json
import os
from typing import Any

from bake.content import oci
from bake.content.imageconfig import ImageConfig, from_oci
from bake.content.store import ContentError, ContentStore
from bake.errors import BakeError


class LayoutError(BakeError):
    """A layout is missing, malformed, or a blob does not match its digest."""


class OCILayoutConfigs:
    """Resolves image configs from OCI layouts; unknown references get an empty config."""

    def __init__(self, layouts: list[str]) -> None:
        self.layouts = layouts

    def resolve(self, ref: str, platform: str) -> ImageConfig:
        for root in self.layouts:
            desc = self._find(root, ref)
            if desc is not None:
                return self._config(root, desc, platform, ref)
        return ImageConfig()

    def _find(self, root: str, ref: str) -> dict[str, Any] | None:
        index = _json(os.path.join(root, "index.json"))
        tag = ref.rsplit(":", 1)[-1] if ":" in ref.rsplit("/", 1)[-1] else "latest"
        for m in index.get("manifests", []):
            name = (m.get("annotations") or {}).get("org.opencontainers.image.ref.name")
            if name in (ref, tag):
                return m  # type: ignore[no-any-return]
        return None

    def _config(self, root: str, desc: dict[str, Any], platform: str, ref: str) -> ImageConfig:
        store = ContentStore(root)  # a layout's blobs/sha256/ is a content store
        try:
            doc = oci.parse(store.read(str(desc["digest"])), desc.get("mediaType"))
            if doc.media_type in oci.INDEX_TYPES:
                doc = oci.parse(store.read(oci.select(doc, oci.Platform.parse(platform)).digest))
            config = json.loads(store.read(doc.body["config"]["digest"]))
        except ContentError as err:
            raise LayoutError(f"{ref}: {err.message}") from None
        except oci.OCIError as err:
            raise LayoutError(f"{ref}: {err}") from None
        return from_oci(config)


def _json(path: str) -> dict[str, Any]:
    try:
        with open(path, "rb") as f:
            data: dict[str, Any] = json.load(f)
            return data
    except (OSError, ValueError) as err:
        raise LayoutError(f"cannot read {path}: {err}") from None
