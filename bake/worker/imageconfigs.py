"""The registry-backed ``ImageConfigResolver``: base images' configs (ENV, WORKDIR, USER,
ONBUILD …) for the Dockerfile frontend, fetched without their layers.

Resolutions go through the image store's records, so a rebuild converts offline with the same
configs it built with; ``refresh`` (``--pull``) asks the registries again; ``offline`` answers only from the
records. ``resolve`` is synchronous, like the frontend: call it from a worker thread (``anyio.to_thread``) in async code.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from bake.content import oci
from bake.content.imageconfig import ImageConfig, from_oci
from bake.registry.reference import parse_reference
from bake.worker.images import ImageStore

if TYPE_CHECKING:
    import anyio

    from bake.registry.client import RegistryClient


class NotRecorded(Exception):
    """An offline resolver was asked for an image it has no record of."""


class RegistryConfigs:
    """``shared=True``: ``resolve`` is called from a worker thread of a running event loop (the
    build converts while its loop serves registry requests) and ``client`` is that loop's own,
    left open; otherwise each resolution runs its own loop and closes the client it made."""

    def __init__(self, images: ImageStore, client: Callable[[], RegistryClient], refresh: bool = False,
                 shared: bool = False, offline: bool = False, gather: bool = False, own: bool = True) -> None:
        self.images = images
        self.client = client
        self.refresh = refresh
        self.own = own  # False: registries only, never an image of bake's own store (for a BuildKit daemon)
        # (ref, platform) → the digest that pins ref to the manifest whose config was answered
        self.pins: dict[tuple[str, str], str] = {}
        self.shared = shared
        self.offline = offline  # only recorded resolutions: anything else raises NotRecorded
        # offline and gather: an image not recorded is noted in ``missing`` and answered with an empty config
        self.missing: list[tuple[str, str]] | None = [] if gather else None
        self._configs: dict[tuple[str, str], ImageConfig] = {}
        self._pending: dict[tuple[str, str], anyio.Event] = {}  # prefetches under way (in the event loop)
        self._prefetched: dict[tuple[str, str], ImageConfig | Exception] = {}

    def resolve(self, ref: str, platform: str) -> ImageConfig:
        key = (ref, platform)
        if key not in self._configs:
            known = None if self.refresh else self.images.recorded(parse_reference(ref), oci.Platform.parse(platform), self.own)
            if known is not None:  # resolved before: no event loop, no registry
                self._configs[key] = from_oci(json.loads(self.images.store.read(known.body["config"]["digest"])))
                self.pins[key] = self.images.pin(parse_reference(ref), oci.Platform.parse(platform), known)
            elif self.offline and self.missing is not None:
                self.missing.append(key)
                return ImageConfig()
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

    async def prefetch(self, wanted: Sequence[tuple[str, str]]) -> None:
        """Resolve these (ref, platform) pairs concurrently, in this loop — the base images of a
        build's Dockerfiles, gathered before converting them — so the frontend, which asks for one
        stage's base at a time, finds each resolved or under way. A failure is kept and raised to the
        frontend when it asks for that image (never twice the retries)."""
        import anyio

        async with anyio.create_task_group() as tg:
            for key in dict.fromkeys(wanted):
                if key not in self._pending:
                    self._pending[key] = anyio.Event()
                    tg.start_soon(self._prefetch_one, key)

    async def _prefetch_one(self, key: tuple[str, str]) -> None:
        try:
            self._prefetched[key] = await self._get(self.client, *key)
        except Exception as err:  # kept for the frontend, which reports it where the image is named
            self._prefetched[key] = err
        finally:
            self._pending[key].set()

    async def _fetch(self, client: Callable[[], RegistryClient], ref: str, platform: str) -> ImageConfig:
        pending = self._pending.get((ref, platform))
        if pending is not None:
            await pending.wait()
            found = self._prefetched[(ref, platform)]
            if isinstance(found, Exception):
                raise found
            return found
        return await self._get(client, ref, platform)

    async def _get(self, client: Callable[[], RegistryClient], ref: str, platform: str) -> ImageConfig:
        config, self.pins[(ref, platform)] = await self.images.config(client, parse_reference(ref), oci.Platform.parse(platform),
                                                                      self.refresh, self.own)
        return from_oci(config)
