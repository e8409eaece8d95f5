"""The app side of BuildKit builders (``app/remote.py``, ``remote_solve.py``, ``remote_index.py``)
against stand-in daemons: a ``Control`` that answers Info, records each Solve request, reports each
op of the definition in one Status update and sends an export's bytes back to the receiver bake
opened. The session's gRPC server is bake's own (on a private socket); the daemon never calls it.

What is checked: the builder read from buildx's store, routing by platform, what each request
carries (exporters, image config, cache, attestations), results and errors per target, the
after-all publish, and the index of a multi-node push."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import io
import json
import os
import tarfile
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from bake._record import replace
from bake.app import Request, resolve
from bake.app.build import BuildOptions, build
from bake.app.outputs import TargetResult
from bake.app.remote_solve import Sources, _deliver
from bake.buildkit import BuilderError, NotSupportedRemote
from bake.buildkit.control import DaemonInfo, SolveFailed
from bake.buildkit.proto import control_pb2 as api
from bake.content import oci
from bake.errors import BuildFailed, StepError, UsageError
from bake.progress.events import Built, Event, Noted, Planned, Started


class Daemon:
    """One node's BuildKit, standing in: what it serves, and every request it was sent."""

    def __init__(self, platforms: tuple[str, ...], *, fail: str = "", reachable: bool = True,
                 response: dict[str, str] | None = None, sends: bytes = b"") -> None:
        self.platforms = platforms
        self.fail = fail  # a step's error: the solve fails with it
        self.reachable = reachable
        self.response = response or {}
        self.sends = sends  # the export's bytes, back through the receiver bake opened
        self.solves: list[api.SolveRequest] = []
        self.returned: list[dict[str, bytes]] = []  # the metadata of each solve whose result the client returned
        self.sessions = 0
        self.closed = 0


class Call:
    """The session stream: it carries no frames (the daemon asks nothing back here)."""

    def __aiter__(self) -> AsyncIterator[api.BytesMessage]:
        return self._frames()

    async def _frames(self) -> AsyncIterator[api.BytesMessage]:
        await asyncio.sleep(3600)  # until the session is stopped
        yield api.BytesMessage()

    async def write(self, message: api.BytesMessage) -> None:
        pass

    async def done_writing(self) -> None:
        pass

    def cancel(self) -> None:
        pass


class World:
    """The daemons by endpoint, and the receivers bake opened for exports, in order."""

    def __init__(self) -> None:
        self.daemons: dict[str, Daemon] = {}
        self.receivers: list[Callable[[], Any]] = []


def digests(request: api.SolveRequest) -> list[str]:
    return ["sha256:" + hashlib.sha256(op).hexdigest() for op in request.Definition.ops]


@pytest.fixture
def world(monkeypatch: pytest.MonkeyPatch) -> World:
    w = World()

    class Control:
        def __init__(self, endpoint: str, builder: str = "", node: str = "", tls: object = None) -> None:
            self.daemon = w.daemons[endpoint]
            self.endpoint, self.builder, self.node = endpoint, builder, node

        async def __aexit__(self, *exc: object) -> None:
            self.daemon.closed += 1

        async def info(self) -> DaemonInfo:
            if not self.daemon.reachable:
                raise BuilderError(f"cannot reach buildkitd at {self.endpoint}: connection refused", self.builder,
                                   self.node)
            return DaemonInfo("v0.32.2", self.daemon.platforms)

        async def solve(self, request: api.SolveRequest) -> api.SolveResponse:
            self.daemon.solves.append(request)
            if self.daemon.sends:
                with w.receivers.pop(0)() as f:
                    f.write(self.daemon.sends)
            if self.daemon.fail:
                raise SolveFailed(f"process did not complete successfully: {self.daemon.fail}", self.builder, self.node)
            return api.SolveResponse(ExporterResponse=self.daemon.response)

        async def solve_returning(self, request: api.SolveRequest, metadata: dict[str, bytes]) -> api.SolveResponse:
            self.daemon.returned.append(dict(metadata))
            return await self.solve(request)

        async def status(self, ref: str) -> AsyncIterator[api.StatusResponse]:
            while not any(r.Ref == ref for r in self.daemon.solves):
                await asyncio.sleep(0.005)
            request = next(r for r in self.daemon.solves if r.Ref == ref)
            update = api.StatusResponse()
            ops = digests(request)[:-1]  # the last is the definition's output, not a step
            for i, d in enumerate(ops):
                v = update.vertexes.add(digest=d)
                v.started.GetCurrentTime()
                v.completed.GetCurrentTime()
                if self.daemon.fail and i == len(ops) - 1:
                    v.error = self.daemon.fail
                    update.logs.add(vertex=d, msg=b"cp: cannot stat\n").timestamp.GetCurrentTime()
            yield update

        def session(self, metadata: Any) -> Call:
            self.daemon.sessions += 1
            return Call()

    def writer(path: str) -> Callable[[], Any]:
        def opened() -> Any:
            return open(path, "wb")

        w.receivers.append(opened)
        return opened

    monkeypatch.setattr("bake.buildkit.control.Control", Control)
    monkeypatch.setattr("bake.app.remote_solve._writer", writer)
    return w


def project(tmp_path: Path, hcl: str, world: World, *nodes: tuple[str, Daemon], targets: tuple[str, ...] = ("t",)
            ) -> Request:
    """A project, its bake root, and buildx's store entry of builder ``farm`` with ``nodes``."""
    d = tmp_path / "project"
    d.mkdir()
    (d / "docker-bake.hcl").write_text(hcl)
    (d / "Dockerfile").write_text("FROM scratch\nCOPY a /a\n")
    (d / "a").write_text("a\n")
    store = tmp_path / "docker/buildx/instances"
    store.mkdir(parents=True)
    entry = {"Name": "farm", "Driver": "remote", "Nodes": []}
    for name, daemon in nodes:
        endpoint = f"unix:///run/{name}.sock"
        world.daemons[endpoint] = daemon
        entry["Nodes"].append({"Name": name, "Endpoint": endpoint})  # type: ignore[attr-defined]
    (store / "farm").write_text(json.dumps(entry))
    return Request(targets=targets, cwd=str(d), env={"BAKE_ROOT": str(tmp_path / "root"), "DOCKER_CONFIG": str(tmp_path / "docker"),
                                    "BUILDX_BUILDER": "farm"})


def bake(req: Request, events: list[Event] | None = None, **opts: Any) -> list[TargetResult]:
    sink = events.append if events is not None else (lambda e: None)
    return build(resolve(req), BuildOptions(**opts), sink)


TWO = 'target "t" {\n  platforms = ["linux/amd64", "linux/arm64"]\n%s}\n'


def test_each_platform_is_solved_on_the_node_that_serves_it(tmp_path: Path, world: World) -> None:
    amd, arm = Daemon(("linux/amd64",)), Daemon(("linux/arm64", "linux/arm/v7"))
    req = project(tmp_path, TWO % "", world, ("n0", amd), ("n1", arm))
    events: list[Event] = []
    (result,) = bake(req, events)
    assert (len(amd.solves), len(arm.solves)) == (1, 1)
    assert (amd.closed, arm.closed) == (1, 1) and amd.sessions == 2  # the contexts' session and the solve's
    assert result.target == "t" and result.platforms == ("linux/amd64", "linux/arm64") and result.error is None
    assert result.executed == 4 and str((result.metadata or {})["buildx.build.ref"]).startswith("farm/n")
    texts = [e.text for e in events if isinstance(e, Noted)]
    assert "t (linux/amd64): node n0" in texts and "t (linux/arm64): node n1" in texts
    assert any(t.startswith("builder farm (remote): node n1 at unix:///run/n1.sock, BuildKit v0.32.2") for t in texts)
    (planned,) = [e for e in events if isinstance(e, Planned)]
    assert planned.targets == ("t (linux/amd64)", "t (linux/arm64)")
    assert sum(isinstance(e, Started) for e in events) == 4  # each node's two steps: the context and the COPY
    assert sorted(e.target for e in events if isinstance(e, Built)) == ["t (linux/amd64)", "t (linux/arm64)"]


def test_a_platform_no_node_serves_and_an_unreachable_node_are_refused_before_solving(tmp_path: Path,
                                                                                        world: World) -> None:
    amd = Daemon(("linux/amd64",))
    req = project(tmp_path, 'target "t" {\n  platforms = ["linux/s390x"]\n}\n', world, ("n0", amd))
    with pytest.raises(BuilderError, match=r"target t: no node serves platform linux/s390x \(n0: linux/amd64\)"):
        bake(req)
    world.daemons["unix:///run/n0.sock"] = down = Daemon((), reachable=False)
    with pytest.raises(BuilderError, match=r"cannot reach buildkitd at unix:///run/n0\.sock"):
        bake(req)
    assert amd.solves == [] and down.solves == []


def test_a_failed_step_is_reported_as_on_the_embedded_worker(tmp_path: Path, world: World) -> None:
    node = Daemon(("linux/amd64",), fail="exit code: 2")
    req = project(tmp_path, 'target "t" {\n  output = ["type=local,dest=out"]\n}\n', world, ("n0", node))
    events: list[Event] = []
    with pytest.raises(StepError) as info:
        bake(req, events)
    err = info.value
    assert (err.step, err.exit_code, err.output, err.targets) == ("[1/1] COPY a /a", 2, ("cp: cannot stat",), ("t",))
    assert err.source == "Dockerfile:2"
    (built,) = [e for e in events if isinstance(e, Built)]
    assert built.error == str(err)
    assert not (tmp_path / "project/out").exists()


def test_several_failed_targets_with_keep_going(tmp_path: Path, world: World) -> None:
    node = Daemon(("linux/amd64",), fail="exit code: 1")
    req = project(tmp_path, 'target "a" {}\ntarget "b" {}\ngroup "default" {\n  targets = ["a", "b"]\n}\n', world,
                  ("n0", node), targets=("default",))
    with pytest.raises(BuildFailed, match="2 targets failed: a, b"):
        bake(req, keep_going=True)
    with pytest.raises(StepError):
        bake(req)


def test_local_and_tar_outputs_come_back_where_the_embedded_worker_puts_them(tmp_path: Path, world: World) -> None:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        info = tarfile.TarInfo("a")
        info.size = 2
        tf.addfile(info, io.BytesIO(b"a\n"))
    node = Daemon(("linux/amd64",), sends=buf.getvalue())
    req = project(tmp_path, 'target "t" {\n  output = ["type=local,dest=out"]\n}\n', world, ("n0", node))
    (result,) = bake(req, metadata_file=str(tmp_path / "meta.json"))
    assert (tmp_path / "project/out/a").read_text() == "a\n"
    assert result.outputs == ("type=local,dest=out",)
    (exporter,) = node.solves[0].Exporters
    assert exporter.Type == "tar" and node.solves[0].ExporterDeprecated == "tar"
    meta = json.loads((tmp_path / "meta.json").read_text())
    assert meta["t"]["buildx.build.ref"].startswith("farm/n0/")

    (tmp_path / "project/docker-bake.hcl").write_text('target "t" {\n  output = ["type=tar,dest=fs.tar"]\n}\n')
    bake(req)
    assert (tmp_path / "project/fs.tar").read_bytes() == buf.getvalue()


@pytest.mark.parametrize("output", ["type=local,dest=out", "type=tar,dest=fs.tar", "type=docker"])
def test_an_export_the_daemon_never_sent_is_an_error_naming_builder_node_and_output(tmp_path: Path, world: World,
                                                                                     output: str) -> None:
    node = Daemon(("linux/amd64",))  # solves, but never sends the export's bytes back
    req = project(tmp_path, f'target "t" {{\n  output = ["{output}"]\n}}\n', world, ("n0", node))
    events: list[Event] = []
    with pytest.raises(BuilderError) as info:
        bake(req, events)
    assert (info.value.builder, info.value.node) == ("farm", "n0")
    assert f"target t: the daemon sent nothing for the output {output}" in str(info.value)
    (built,) = [e for e in events if isinstance(e, Built)]
    assert built.error == str(info.value)
    assert not (tmp_path / "project/out").exists() and not (tmp_path / "project/fs.tar").exists()


def test_an_image_push_carries_bakes_config_cache_and_attestations(tmp_path: Path, world: World) -> None:
    descriptor = {"mediaType": oci.MANIFEST, "digest": "sha256:" + "a" * 64, "size": 100}
    node = Daemon(("linux/amd64",), response={
        "containerimage.digest": str(descriptor["digest"]),
        "containerimage.descriptor": base64.b64encode(json.dumps(descriptor).encode()).decode()})
    hcl = ('target "t" {\n  output = ["type=registry"]\n  tags = ["r.example/app:1"]\n  labels = { team = "x" }\n'
           '  cache-from = ["type=registry,ref=r.example/cache"]\n  cache-to = ["type=inline"]\n'
           '  attest = ["type=provenance,mode=max"]\n  args = { SOURCE_DATE_EPOCH = "10" }\n}\n')
    req = project(tmp_path, hcl, world, ("n0", node))
    (result,) = bake(req)
    (request,) = node.solves
    (exporter,) = request.Exporters
    attrs = dict(exporter.Attrs)
    assert exporter.Type == "image" and attrs["push"] == "true" and attrs["name"] == "r.example/app:1"
    assert attrs["source-date-epoch"] == "10"
    config = json.loads(attrs["containerimage.config"])
    assert config["config"]["Labels"] == {"team": "x"} and config["created"] == "1970-01-01T00:00:10Z"
    assert [(c.Type, dict(c.Attrs)) for c in request.Cache.Imports] == [("registry", {"ref": "r.example/cache"})]
    assert [c.Type for c in request.Cache.Exports] == ["inline"]
    assert dict(request.FrontendAttrs) == {"attest:provenance": "type=provenance,mode=max"}  # as buildx sends it
    # the result carries the config: BuildKit keys the attestation by the platform it names
    assert node.returned == [{"containerimage.config": attrs["containerimage.config"].encode()}]
    assert (result.metadata or {})["containerimage.digest"] == descriptor["digest"]
    assert (result.metadata or {})["containerimage.descriptor"] == descriptor


def test_an_empty_result_is_refused_by_name(tmp_path: Path, world: World) -> None:
    node = Daemon(("linux/amd64",))
    req = project(tmp_path, 'target "t" {\n  dockerfile-inline = "FROM scratch"\n}\n', world, ("n0", node))
    with pytest.raises(NotSupportedRemote, match="an empty result"):
        bake(req)
    assert node.solves == []


@pytest.mark.parametrize("fails", [False, True])
def test_publish_after_all_exports_only_when_every_target_built(tmp_path: Path, world: World, fails: bool) -> None:
    node = Daemon(("linux/amd64",), fail="exit code: 1" if fails else "")
    req = project(tmp_path, 'target "t" {\n  output = ["type=registry"]\n  tags = ["r.example/app:1"]\n}\n', world,
                  ("n0", node))
    events: list[Event] = []
    if fails:
        with pytest.raises(StepError):
            bake(req, events, publish="after-all")
    else:
        bake(req, events, publish="after-all")
    exporters = [len(r.Exporters) for r in node.solves]
    assert exporters == ([0] if fails else [0, 1])  # built first with no outputs; exported only if all built
    warned = [e.text for e in events if isinstance(e, Noted) and e.level == "warning"]
    assert warned == (["publish after-all: a target failed, nothing exported"] if fails else [])


class IndexClient:
    """What pushing an index asks of a registry client; counts pushes and closes."""

    def __init__(self, fail: bool = False, stored: dict[str, oci.Document] | None = None) -> None:
        self.pushed: list[tuple[str, str, str | None]] = []
        self.closed = 0
        self.fail = fail
        self.stored = stored or {}  # what the daemons pushed by digest
        self.read: list[tuple[str, str]] = []

    async def manifest(self, ref: Any, reference: str) -> oci.Document:
        self.read.append((f"{ref.registry}/{ref.repository}", reference))
        return self.stored[reference]

    async def push_manifest(self, ref: Any, doc: oci.Document, tag: str | None = None) -> str:
        from bake.registry.client import RegistryError

        if self.fail:
            raise RegistryError("denied: requested access to the resource is denied", 403)
        self.pushed.append((f"{ref.registry}/{ref.repository}", doc.digest, tag))
        return doc.digest

    async def aclose(self) -> None:
        self.closed += 1


@pytest.mark.parametrize("fail", [False, True])
def test_a_multi_node_push_gets_the_index_of_every_platform(tmp_path: Path, world: World,
                                                            monkeypatch: pytest.MonkeyPatch, fail: bool) -> None:
    def pushed(digest: str) -> Daemon:
        desc = {"mediaType": oci.MANIFEST, "digest": digest, "size": 100}
        return Daemon((), response={"containerimage.digest": digest,
                                    "containerimage.descriptor": base64.b64encode(json.dumps(desc).encode()).decode()})

    amd, arm = pushed("sha256:" + "a" * 64), pushed("sha256:" + "b" * 64)
    amd.platforms, arm.platforms = ("linux/amd64",), ("linux/arm64",)
    client = IndexClient(fail)
    monkeypatch.setattr("bake.registry.client.default_client", lambda: client)
    req = project(tmp_path, TWO % '  output = ["type=registry"]\n  tags = ["r.example/app:1"]\n', world,
                  ("n0", amd), ("n1", arm))
    if fail:
        with pytest.raises(UsageError, match=r"pushing the index to r\.example/app:1: denied"):
            bake(req)
        assert client.pushed == [] and client.closed == 1
        return
    (result,) = bake(req)
    for daemon in (amd, arm):
        attrs = dict(daemon.solves[0].Exporters[0].Attrs)
        assert attrs["push-by-digest"] == "true" and attrs["name"] == "r.example/app"
    ((repo, digest, tag),) = client.pushed
    assert (repo, tag) == ("r.example/app", "1") and client.closed == 1
    assert (result.metadata or {})["containerimage.digest"] == digest
    assert (result.metadata or {})["image.name"] == "r.example/app:1"


def test_attested_platforms_pushed_by_two_nodes_become_one_index_of_images_then_attestations(
        tmp_path: Path, world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    """buildx's default provenance on every platform's solve: each node pushes an index of its
    image and attestation; bake reads both back and pushes one index, as BuildKit orders it."""
    def attested(platform: str) -> oci.Document:
        image = oci.Descriptor(oci.MANIFEST, "sha256:" + platform[6] * 64, 100, oci.Platform.parse(platform))
        return oci.index([image, oci.Descriptor(oci.MANIFEST, "sha256:" + platform[7] * 64, 50,
                                                oci.Platform("unknown", "unknown"),
                                                (("vnd.docker.reference.digest", image.digest),
                                                 ("vnd.docker.reference.type", "attestation-manifest")))])

    parts = {p: attested(p) for p in ("linux/amd64", "linux/arm64")}
    daemons = {p: Daemon((p,), response={
        "containerimage.digest": d.digest,
        "containerimage.descriptor": base64.b64encode(json.dumps(d.descriptor().to_json()).encode()).decode()})
        for p, d in parts.items()}
    client = IndexClient(stored={d.digest: d for d in parts.values()})
    monkeypatch.setattr("bake.registry.client.default_client", lambda: client)
    req = project(tmp_path, TWO % '  output = ["type=registry"]\n  tags = ["r.example/app:1"]\n', world,
                  ("n0", daemons["linux/amd64"]), ("n1", daemons["linux/arm64"]))
    (result,) = bake(req)
    for platform, daemon in daemons.items():
        (request,) = daemon.solves
        assert dict(request.FrontendAttrs) == {"attest:provenance": "mode=min,inline-only=true"}  # buildx's default
        (returned,) = daemon.returned  # the result went back with its config, naming its platform
        assert json.loads(returned["containerimage.config"])["architecture"] == platform.partition("/")[2]
    assert sorted(client.read) == sorted(("r.example/app", d.digest) for d in parts.values())
    ((_, digest, tag),) = client.pushed
    index = oci.index([*(oci.Descriptor.from_json(d.body["manifests"][0]) for d in parts.values()),
                       *(oci.Descriptor.from_json(d.body["manifests"][1]) for d in parts.values())])
    assert (digest, tag) == (index.digest, "1")
    assert (result.metadata or {})["containerimage.digest"] == index.digest
    assert "containerimage.config.digest" not in (result.metadata or {})


@pytest.mark.parametrize(("env", "asked"), [({}, {"attest:provenance": "mode=min,inline-only=true"}),
                                            ({"BUILDX_NO_DEFAULT_ATTESTATIONS": "1"}, {})])
def test_a_plain_solve_asks_for_buildx_default_provenance_unless_turned_off(
        tmp_path: Path, world: World, env: dict[str, str], asked: dict[str, str]) -> None:
    node = Daemon(("linux/amd64",))
    req = project(tmp_path, 'target "t" {\n  output = ["type=cacheonly"]\n}\n', world, ("n0", node))
    bake(replace(req, env={**(req.env or {}), **env}))
    (request,) = node.solves
    assert dict(request.FrontendAttrs) == asked
    assert node.returned == []  # no image config to carry: a plain solve


def test_registry_credentials_for_the_daemon_come_from_the_docker_config(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text(json.dumps({"auths": {
        "r.example": {"auth": base64.b64encode(b"me:pw").decode()},
        "t.example": {"auth": base64.b64encode(b"<token>:tok").decode()}}}))
    sources = Sources(None, None, {"DOCKER_CONFIG": str(tmp_path)})  # type: ignore[arg-type]
    assert sources.credentials("r.example") == ("me", "pw")
    assert sources.credentials("t.example") == ("", "tok")  # an identity token: the secret, no user
    assert sources.credentials("other.example") is None


@pytest.fixture
def tarball(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "sent.tar"
    with tarfile.open(path, "w") as tf:
        for name, data in (("etc/x", b"x"), ("../escape", b"!")):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
        link = tarfile.TarInfo("lnk")
        link.type, link.linkname = tarfile.SYMTYPE, str(path.parent)
        tf.addfile(link)
        through = tarfile.TarInfo("lnk/through-link")
        through.size = 1
        tf.addfile(through, io.BytesIO(b"!"))
    yield path


def test_delivery_keeps_every_name_inside_the_destination(tmp_path: Path, tarball: Path) -> None:
    # resolved inside the destination, as BuildKit's chrooted untar: ../escape lands in it, and a
    # file under a link to outside is written where the link resolves inside it
    _deliver("unpack", str(tarball), str(tmp_path / "out"))
    assert not (tmp_path / "escape").exists() and (tmp_path / "out" / "escape").read_bytes() == b"!"
    assert not (tmp_path / "through-link").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out", "sent.tar"]
    assert (tmp_path / "out" / "etc" / "x").stat().st_uid == os.geteuid()
    _deliver("file", str(tarball), str(tmp_path / "deep/dir/fs.tar"))
    assert (tmp_path / "deep/dir/fs.tar").is_file() and not tarball.exists()


def test_joined_platform_tarballs_keep_dot_files(tmp_path: Path) -> None:
    from bake.app.remote_merge import _tar

    parts = []
    for platform in ("linux/amd64", "linux/arm64"):
        part = tmp_path / f"{platform.replace('/', '_')}.tar"
        with tarfile.open(part, "w") as tf:
            for name in ("./.env", ".a/.b", "plain"):
                info = tarfile.TarInfo(name)
                info.size = 1
                tf.addfile(info, io.BytesIO(b"x"))
        parts.append(str(part))
    _tar(parts, ("linux/amd64", "linux/arm64"), str(tmp_path / "out.tar"))
    with tarfile.open(tmp_path / "out.tar") as tf:
        assert sorted(tf.getnames()) == [f"linux_{a}/{n}" for a in ("amd64", "arm64") for n in (".a/.b", ".env", "plain")]
