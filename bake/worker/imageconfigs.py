"""The registry-backed ``ImageConfigResolver``: base images' configs (ENV, WORKDIR, USER,
ONBUILD …) for the Dockerfile frontend, fetched without their layers.

Resolutions go through the image store's records, so a rebuild converts offline with the same
configs it built with; ``refresh`` (``--pull``) asks the registries again; ``offline`` answers only from the
records. ``resolve`` is synchronous, like the frontend: call it from a worker thread (``anyio.to_thread``) in async code.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TYPE_CHECKING

from bake.content import oci
from bake.content.imageconfig import ImageConfig, from_oci
from bake.registry.reference import parse_reference
from bake.worker.images import ImageStore

if TYPE_CHECKING:
    from bake.registry.client import RegistryClient


class NotRecorded(Exception):
    """An offline resolver was asked for an image it has no record of."""


class RegistryConfigs:
    """``shared=True``: ``resolve`` is called from a worker thread of a running event loop (the
    build converts while its loop serves registry requests) and ``client`` is that loop's own,
    left open; otherwise each resolution runs its own loop and closes the client it made."""

    def __init__(self, images: ImageStore, client: Callable[[], RegistryClient], refresh: bool = False,
                 shared: bool = False, offline: bool = False) -> None:
        self.images = images
        self.client = client
        self.refresh = refresh
        self.shared = shared
        self.offline = offline  # only recorded resolutions: anything else raises NotRecorded
        self._configs: dict[tuple[str, str], ImageConfig] = {}

    def resolve(self, ref: str, platform: str) -> ImageConfig:
        key = (ref, platform)
        if key not in self._configs:
            known = None if self.refresh else self.images.recorded(parse_reference(ref), oci.Platform.parse(platform))
            if known is not None:  # resolved before: no event loop, no registry
                self._configs[key] = from_oci(json.loads(self.images.store.read(known.body["config"]["digest"])))
            elif self.offline:
                raise NotRecorded(f"{ref} ({platform}) was not resolved before")
            elif self.shared:
                import anyio.from_thread

                self._configs[key] = anyio.from_thread.run(self._fetch, self.client, ref, platform)
            else:
                import anyio

                self._configs[key] = anyio.run(self._resolve, ref, platform)
        return self._configs[key]

    async def _resolve(self, ref: str, platform: str) -> ImageConfig:
        made: list[RegistryClient] = []

        def client() -> RegistryClient:  # only when the image was not resolved before
            if not made:
                made.append(self.client())
            return made[0]

        try:
            return await self._fetch(client, ref, platform)
        finally:
            for c in made:
                await c.aclose()

    async def _fetch(self, client: Callable[[], RegistryClient], ref: str, platform: str) -> ImageConfig:
        return from_oci(await self.images.config(client, parse_reference(ref), oci.Platform.parse(platform), self.refresh))
