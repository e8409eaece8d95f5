"""buildx's docker driver: Docker contexts as builders, what each output becomes on dockerd's
BuildKit, and the client-side gateway build that hands the image config to dockerd's exporter."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
from pathlib import Path
from typing import Any

import grpc
import grpc.aio
import pytest

from bake.buildkit import BuilderError, NotSupportedRemote
from bake.buildkit.builders import Builder, Node, check, load
from bake.buildkit.control import Control, SolveFailed
from bake.buildkit.drivers import refuse_missing_ops
from bake.buildkit.drivers.docker import context_builder, engine_export
from bake.buildkit.exporters import CONFIG_ATTR, Export, exporter
from bake.buildkit.gateway import solve_returning
from bake.buildkit.proto import control_pb2 as api
from bake.buildkit.proto import gateway_pb2 as gw
from bake.buildkit.proto import llb_pb2 as pb
from bake.graph.ops import MergeOp, SourceOp, Vertex

CONFIG = b'{"architecture":"amd64","config":{"Cmd":["sh"]},"os":"linux"}'


def test_a_name_not_in_buildx_store_is_a_docker_context(tmp_path: Path) -> None:
    env = {"DOCKER_CONFIG": str(tmp_path), "DOCKER_HOST": "unix:///run/engine.sock"}
    assert load("default", env) == Builder("default", "docker", (Node("default", "unix:///run/engine.sock"),))
    meta = tmp_path / "contexts" / "meta" / hashlib.sha256(b"lab").hexdigest()
    meta.mkdir(parents=True)
    (meta / "meta.json").write_text(json.dumps({"Name": "lab", "Endpoints": {"docker": {"Host": "tcp://lab:2375"}}}))
    assert load("lab", env).nodes == (Node("lab", "tcp://lab:2375"),)
    with pytest.raises(BuilderError, match="no such builder"):
        load("nowhere", env)


def test_the_store_wins_over_a_context_of_the_same_name(tmp_path: Path) -> None:
    inst = tmp_path / "buildx" / "instances"
    inst.mkdir(parents=True)
    (inst / "default").write_text(json.dumps({"Name": "default", "Driver": "remote", "Nodes": [
        {"Name": "n0", "Endpoint": "tcp://bk:1234"}]}))
    assert load("default", {"DOCKER_CONFIG": str(tmp_path)}).driver == "remote"


def test_a_docker_builder_is_checked_as_one_engine(tmp_path: Path) -> None:
    builder = context_builder("default", {"DOCKER_CONFIG": str(tmp_path), "DOCKER_HOST": "ssh://me@host"})
    assert builder is not None
    with pytest.raises(BuilderError, match="only unix:// and tcp://"):
        check(builder)
    ok = Builder("default", "docker", (Node("default", "unix:///run/engine.sock"),))
    assert check(ok) == ok.nodes


def test_load_and_image_outputs_go_to_the_engine_store_with_the_config() -> None:
    for kind in ("docker", "image"):
        e = engine_export(kind, "", {}, ("app:1", "app:latest"), CONFIG, 0)
        assert e is not None
        attrs = dict(e.attrs)
        assert (e.type, e.receive, e.dest) == ("moby", "", "")
        assert attrs["name"] == "app:1,app:latest"
        assert json.loads(attrs[CONFIG_ATTR]) == json.loads(CONFIG)
    assert engine_export("local", "/out", {}, (), None) == Export("tar", (), "unpack", "/out")


@pytest.mark.parametrize(("kind", "dest", "attrs", "what"), [
    ("docker", "/img.tar", {}, "keeps images in its own store"),
    ("oci", "/img.tar", {}, "keeps images in its own store"),
    ("registry", "", {"name": "r/app:1"}, "with a push"),
    ("image", "", {"name": "r/app:1", "push": "true"}, "with a push"),
])
def test_what_the_docker_driver_cannot_export_is_refused(kind: str, dest: str, attrs: dict[str, str],
                                                         what: str) -> None:
    with pytest.raises(NotSupportedRemote, match=what):
        engine_export(kind, dest, attrs, (), CONFIG)


def test_load_on_a_buildkit_node_brings_the_docker_tarball_back_to_load() -> None:
    e = exporter("docker", "", {}, ("app:1",), CONFIG)
    assert e is not None
    assert (e.type, e.receive, e.dest) == ("docker", "load", "")
    assert dict(e.attrs)["name"] == "app:1"


def test_copy_link_on_an_engine_without_a_merge_op_is_refused_before_building() -> None:
    engine = Builder("default", "docker", (Node("default", "unix:///run/engine.sock"),))
    base = Vertex(SourceOp("docker-image://docker.io/library/busybox:latest"))
    linked = Vertex(MergeOp(), (base, Vertex(SourceOp("local://context"))), location="Dockerfile:3")
    with pytest.raises(BuilderError, match=r"node 'default': Dockerfile:3: COPY --link needs BuildKit's merge op"):
        refuse_missing_ops(engine, engine.nodes[0], "", Vertex(SourceOp("x"), (linked,)))
    refuse_missing_ops(engine, engine.nodes[0], "", base)  # nothing to merge
    refuse_missing_ops(engine, engine.nodes[0], "v0.12.5", linked)  # an engine whose BuildKit says its version
    remote = Builder("r", "remote", (Node("n", "tcp://bk:1234"),))
    refuse_missing_ops(remote, remote.nodes[0], "", linked)  # a remote node may be v0.10 without Info: its error stands


class FakeDaemon:
    """Control.Solve without a definition waits for the client's LLBBridge.Return, as BuildKit's
    gateway forwarder does; records every call with its build id."""

    def __init__(self, fail: str = "") -> None:
        self.calls: list[tuple[str, str]] = []
        self.returned: gw.ReturnRequest | None = None
        self.done = asyncio.Event()
        self.fail = fail

    def _id(self, context: Any) -> str:
        return str(dict(context.invocation_metadata()).get("buildkit-controlapi-buildid", ""))

    async def control_solve(self, raw: bytes, context: Any) -> bytes:
        req = api.SolveRequest.FromString(raw)
        self.calls.append(("Control.Solve", "definition" if req.HasField("Definition") else req.Ref))
        await self.done.wait()
        assert self.returned is not None
        if self.returned.HasField("error"):
            await context.abort(grpc.StatusCode.UNKNOWN, self.returned.error.message)
        return api.SolveResponse().SerializeToString()

    async def bridge_solve(self, raw: bytes, context: Any) -> bytes:
        req = gw.SolveRequest.FromString(raw)
        self.calls.append(("LLBBridge.Solve", self._id(context)))
        assert req.allowResultReturn and len(req.Definition.ops) == 1
        if self.fail:
            await context.abort(grpc.StatusCode.UNKNOWN, self.fail)
        return gw.SolveResponse(result=gw.Result(ref=gw.Ref(id="r1"))).SerializeToString()

    async def bridge_return(self, raw: bytes, context: Any) -> bytes:
        self.calls.append(("LLBBridge.Return", self._id(context)))
        self.returned = gw.ReturnRequest.FromString(raw)
        self.done.set()
        return gw.ReturnResponse().SerializeToString()


async def _with_daemon(tmp_path: Path, daemon: FakeDaemon) -> api.SolveResponse:
    methods = {"/moby.buildkit.v1.Control/Solve": daemon.control_solve,
               "/moby.buildkit.v1.frontend.LLBBridge/Solve": daemon.bridge_solve,
               "/moby.buildkit.v1.frontend.LLBBridge/Return": daemon.bridge_return}
    handlers: dict[str, Any] = {m: grpc.unary_unary_rpc_method_handler(f) for m, f in methods.items()}

    class Generic(grpc.GenericRpcHandler):
        def service(self, details: grpc.HandlerCallDetails) -> Any:
            return handlers.get(details.method)

    server = grpc.aio.server()
    server.add_generic_rpc_handlers((Generic(),))
    sock = os.path.join(tmp_path, "bk.sock")
    server.add_insecure_port(f"unix://{sock}")
    await server.start()
    try:
        async with Control(f"unix://{sock}", "b", "n") as control:
            request = api.SolveRequest(Ref="build1", Definition=pb.Definition(ops=[b"op"]), Session="s1")
            return await solve_returning(control, request, {CONFIG_ATTR: CONFIG})
    finally:
        await server.stop(None)


def test_the_result_is_returned_with_the_config_through_the_gateway(tmp_path: Path) -> None:
    daemon = FakeDaemon()
    asyncio.run(_with_daemon(tmp_path, daemon))
    assert sorted(daemon.calls) == [("Control.Solve", "build1"), ("LLBBridge.Return", "build1"),
                                    ("LLBBridge.Solve", "build1")]
    assert daemon.returned is not None
    assert daemon.returned.result.ref.id == "r1"
    assert daemon.returned.result.metadata[CONFIG_ATTR] == CONFIG


def test_a_failed_build_is_returned_as_the_error_so_the_solve_ends(tmp_path: Path) -> None:
    daemon = FakeDaemon(fail="process \"/bin/sh -c exit 3\" did not complete successfully")
    with pytest.raises(SolveFailed, match="exit 3"):
        asyncio.run(_with_daemon(tmp_path, daemon))
    assert daemon.returned is not None and "exit 3" in daemon.returned.error.message
