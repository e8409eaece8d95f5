"""The worker's entry: opened on a state root, it hands a build its scratch directory, base images'
configs for the frontend (offline from records, or through the session's registry client) and a
session whose executor is made only when a step runs."""

from __future__ import annotations

import os
from pathlib import Path

import anyio
import pytest

from bake.content.imageconfig import ImageConfig
from bake.content.oci import Platform
from bake.registry.reference import parse_reference
from bake.worker.imageconfigs import NotRecorded, RegistryConfigs
from bake.worker.images import ImageStore
from bake.worker.worker import Worker
from tests.unit.worker.fakes import CopySnapshots, FakeExecutor
from tests.unit.worker.registryfake import FakeRegistry

ALPINE = str(parse_reference("alpine:3"))


def worker_on(root: Path) -> Worker:
    return Worker(str(root), CopySnapshots(str(root)))


def registry() -> FakeRegistry:
    r = FakeRegistry()
    r.image(ALPINE, {"etc/alpine-release": "3"}, config={"config": {"Env": ["PATH=/bin"], "WorkingDir": "/srv",
                                                                    "User": "app"}})
    return r


def test_open_makes_the_root_and_claimed_gives_a_scratch_directory_for_the_build(tmp_path: Path) -> None:
    worker = Worker.open(str(tmp_path / "state"))
    with worker.claimed() as scratch:
        assert os.path.isdir(scratch) and worker.scratch == scratch == worker.images.scratch
        assert Path(scratch).parent == tmp_path / "state" / "run"
    assert not os.path.exists(scratch)


def test_offline_configs_answer_only_what_was_resolved_before(tmp_path: Path) -> None:
    worker = worker_on(tmp_path)
    with pytest.raises(NotRecorded, match="alpine:3 \\(linux/amd64\\) was not resolved before"):
        worker.configs().resolve(ALPINE, "linux/amd64")
    reg = registry()
    anyio.run(worker.images.config, reg.client, parse_reference(ALPINE), Platform("linux", "amd64"))  # type: ignore[arg-type]
    config = worker.configs().resolve(ALPINE, "linux/amd64")
    assert config.workdir == "/srv" and config.user == "app"


def test_a_resolver_with_its_own_loop_closes_the_client_it_made(tmp_path: Path) -> None:
    reg = registry()
    images = worker_on(tmp_path).images
    configs = RegistryConfigs(images, reg.client)  # type: ignore[arg-type]
    first = configs.resolve(ALPINE, "linux/amd64")
    assert first.env == ("PATH=/bin",)
    assert reg.calls["client"] == 1 and reg.calls["aclose"] == 1
    assert configs.resolve(ALPINE, "linux/amd64") is first  # remembered by this resolver
    again = RegistryConfigs(images, reg.client)  # type: ignore[arg-type]
    again.resolve(ALPINE, "linux/amd64")
    assert reg.calls["client"] == 1  # recorded: no loop, no client
    RegistryConfigs(images, reg.client, refresh=True).resolve(ALPINE, "linux/amd64")  # type: ignore[arg-type]
    assert reg.calls["resolve"] == 2 and reg.calls["aclose"] == 2


def test_a_shared_resolver_asks_through_the_running_loops_client(tmp_path: Path) -> None:
    reg = registry()
    worker = worker_on(tmp_path)

    async def convert() -> object:
        configs = worker.configs(reg.client)  # type: ignore[arg-type]
        return await anyio.to_thread.run_sync(configs.resolve, ALPINE, "linux/amd64")  # as the frontend does

    config = anyio.run(convert)
    assert isinstance(config, ImageConfig) and config.user == "app"
    assert reg.calls["aclose"] == 0  # the session's client stays open for the build


def test_the_executor_is_made_when_first_needed_and_closed_with_the_session(tmp_path: Path) -> None:
    worker = worker_on(tmp_path / "root")
    made: list[FakeExecutor] = []

    def executor() -> FakeExecutor:
        made.append(FakeExecutor())
        return made[-1]

    async def session() -> None:
        async with worker.session(salts=worker.salts(str(tmp_path), "linux/amd64", False), env={}, secrets=(),
                                  ssh=(), allow=(), runtime=None, client=registry().client,  # type: ignore[arg-type]
                                  executor=executor) as s:
            assert made == []  # a cached build starts no runtime
            await s.prefetch()
            await s.prefetch()
            assert len(made) == 1
            assert s.client() is s.client()

    with worker.claimed():
        anyio.run(session)
    assert made[0].closed


def test_usable_results_name_committed_snapshots(tmp_path: Path) -> None:
    worker = worker_on(tmp_path)
    sid = worker.snapshots.commit(worker.snapshots.prepare(None))
    active = worker.snapshots.prepare(None)
    assert worker.usable(sid) and not worker.usable(active) and not worker.usable("not-an-id")


def test_imported_cache_only_with_sources(tmp_path: Path) -> None:
    from bake.worker.remotecache import LocalSource

    worker = worker_on(tmp_path)
    assert worker.imported([]) is None
    imported = worker.imported([LocalSource(str(tmp_path / "cache"))])
    assert imported is not None and isinstance(imported.images, ImageStore)
