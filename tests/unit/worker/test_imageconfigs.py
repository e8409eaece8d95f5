"""Base images' configs for the frontend (``worker/imageconfigs.py``): the images a build's
Dockerfiles name are gathered offline and resolved all at once; the frontend, asking for one
stage's base at a time, then waits for the resolution under way instead of starting another.

The image store is a counting stand-in: no registry."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import anyio
import pytest

from bake.app import Request, resolve
from bake.app.roots import check_cached
from bake.content import oci
from bake.content.imageconfig import ImageConfig
from bake.errors import BakeError
from bake.graph.digest import digest
from bake.registry.reference import Reference
from bake.solver.keyplan import KeyPlan
from bake.worker.imageconfigs import NotRecorded, RegistryConfigs
from bake.worker.worker import Worker


class CountingImages:
    """Answers ``config`` with ENV naming the image; counts calls and how many ran at once."""

    def __init__(self, failing: tuple[str, ...] = ()) -> None:
        self.calls: list[str] = []
        self.running = 0
        self.most = 0
        self.failing = failing

    def recorded(self, ref: Reference, platform: oci.Platform, own: bool = True) -> None:
        return None

    async def config(self, client: Callable[[], Any], ref: Reference, platform: oci.Platform,
                     refresh: bool = False, own: bool = True) -> tuple[dict[str, object], str]:
        self.calls.append(str(ref))
        self.running += 1
        self.most = max(self.most, self.running)
        for _ in range(3):
            await anyio.sleep(0)
        self.running -= 1
        if ref.repository in self.failing:
            raise BakeError(f"{ref}: not found")
        return {"config": {"Env": [f"FROM={ref.repository}"]}}, "sha256:" + ref.repository.replace("/", "-")


def configs(images: CountingImages) -> RegistryConfigs:
    return RegistryConfigs(images, lambda: None, shared=True)  # type: ignore[arg-type]


WANTED = (("docker.io/library/alpine:3", "linux/amd64"), ("docker.io/library/debian:12", "linux/amd64"),
          ("docker.io/library/node:22", "linux/amd64"))


def test_prefetched_images_are_resolved_at_once_and_once() -> None:
    images = CountingImages()
    resolver = configs(images)

    async def build() -> list[ImageConfig]:
        async with anyio.create_task_group() as tg:
            tg.start_soon(resolver.prefetch, WANTED)
            return [await anyio.to_thread.run_sync(resolver.resolve, ref, p) for ref, p in reversed(WANTED)]

    got = anyio.run(build)
    assert images.most == 3  # concurrently, not one after another
    assert sorted(images.calls) == sorted(ref for ref, _ in WANTED)  # the frontend waited, asked nothing twice
    assert [c.env for c in got] == [("FROM=library/node",), ("FROM=library/debian",), ("FROM=library/alpine",)]


def test_a_failed_prefetch_is_the_frontends_error_without_asking_again() -> None:
    images = CountingImages(failing=("library/debian",))
    resolver = configs(images)

    async def build() -> BakeError | None:
        async with anyio.create_task_group() as tg:
            tg.start_soon(resolver.prefetch, WANTED)
            try:
                await anyio.to_thread.run_sync(resolver.resolve, *WANTED[1])
            except BakeError as err:
                return err
        return None

    err = anyio.run(build)
    assert err is not None and err.message == "docker.io/library/debian:12: not found"
    assert images.calls.count("docker.io/library/debian:12") == 1


def test_an_offline_gathering_resolver_names_every_unrecorded_image() -> None:
    resolver = RegistryConfigs(CountingImages(), lambda: None, offline=True, gather=True)  # type: ignore[arg-type]
    assert resolver.resolve(*WANTED[0]) == ImageConfig() and resolver.resolve(*WANTED[2]) == ImageConfig()
    assert resolver.missing == [WANTED[0], WANTED[2]]
    with pytest.raises(NotRecorded):
        RegistryConfigs(CountingImages(), lambda: None, offline=True).resolve(*WANTED[0])  # type: ignore[arg-type]


def test_a_build_on_a_new_root_gathers_the_base_images_of_all_its_stages(tmp_path: Any) -> None:
    (tmp_path / "Dockerfile").write_text("FROM alpine:3 AS a\nRUN true\nFROM debian:12 AS b\nCOPY --from=a / /a\n"
                                         "FROM b\nCOPY --from=node:22 /x /x\nFROM scratch\n")
    (tmp_path / "docker-bake.hcl").write_text('target "default" {\n  target = "b"\n}\n')
    resolved = resolve(Request(cwd=str(tmp_path), env={}))
    got = check_cached(resolved.request, resolved.plan, Worker.open(str(tmp_path / "root")), KeyPlan(digest),
                       lambda e: None)
    assert got.done is None and got.roots is None
    assert [ref for ref, _ in got.unresolved] == ["docker.io/library/alpine:3", "docker.io/library/debian:12"]
