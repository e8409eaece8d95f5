"""The ``ImageConfigResolver`` protocol through which base images' configs reach the frontend, and
the two resolvers that need no I/O. The config type itself is ``bake.content.imageconfig``'s."""

from __future__ import annotations

from typing import Protocol

from bake.content.imageconfig import ImageConfig


class ImageConfigResolver(Protocol):
    """Answers the config of an image for a platform (ENV, WORKDIR, USER, ONBUILD of FROM images).

    The registry-backed one is bake.worker.imageconfigs.RegistryConfigs; tests use in-memory ones."""

    def resolve(self, ref: str, platform: str) -> ImageConfig: ...


class EmptyConfigs:
    """Every image has an empty config: for planning offline, where no registry is reachable."""

    def resolve(self, ref: str, platform: str) -> ImageConfig:
        return ImageConfig()


class StaticConfigs:
    """Configs from a mapping of image reference → config (unknown images: empty)."""

    def __init__(self, configs: dict[str, ImageConfig]) -> None:
        self.configs = configs
        self.calls: list[tuple[str, str]] = []

    def resolve(self, ref: str, platform: str) -> ImageConfig:
        self.calls.append((ref, platform))
        return self.configs.get(ref, ImageConfig())
