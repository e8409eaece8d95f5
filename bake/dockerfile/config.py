"""The image configuration a stage carries (OCI image config ``config`` + history), and the
``ImageConfigResolver`` protocol through which base images' configs reach the frontend."""

from __future__ import annotations

from typing import Protocol

from bake._record import record


@record
class History:
    """One history entry. ``created`` None: this build's own (stamped when exported); a base
    image's entries keep theirs ("" when they had none), as BuildKit copies them."""

    created_by: str
    empty_layer: bool
    comment: str = "buildkit.dockerfile.v0"
    created: str | None = None
    author: str = ""


@record
class ImageConfig:
    """What ENV, WORKDIR, USER, LABEL, … have set so far. ``env`` keeps order, ``KEY=value``."""

    env: tuple[str, ...] = ()
    workdir: str = ""
    user: str = ""
    labels: tuple[tuple[str, str], ...] = ()
    exposed_ports: tuple[str, ...] = ()
    volumes: tuple[str, ...] = ()
    entrypoint: tuple[str, ...] | None = None
    cmd: tuple[str, ...] | None = None
    healthcheck: tuple[tuple[str, object], ...] | None = None
    stop_signal: str = ""
    shell: tuple[str, ...] = ()
    onbuild: tuple[str, ...] = ()
    history: tuple[History, ...] = ()
    args_escaped: bool = False  # BuildKit sets it with every CMD (Docker's Windows-era flag)

    def env_map(self) -> dict[str, str]:
        out: dict[str, str] = {}
        for item in self.env:
            k, _, v = item.partition("=")
            out[k] = v
        return out


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
