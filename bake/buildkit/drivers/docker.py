"""buildx's ``docker`` driver: the BuildKit built into ``dockerd``, reached through the Docker API.

A builder of this driver is a Docker context (buildx looks a name up in its own store first, then
among the contexts; ``default`` always exists and follows ``DOCKER_HOST``). Its one node's
endpoint is the engine's (``unix:///var/run/docker.sock``, ``tcp://…``). BuildKit's control API is
served on the engine's ``/grpc`` endpoint after an HTTP upgrade to h2c; bake's gRPC channel goes
through a private relay that performs that upgrade for each connection (``bake.docker.hijack``).
The build session rides on the control API's ``Session`` stream, as with a ``remote`` node.

Image outputs (``type=image``, ``--load``) go to the engine's own store through dockerd's ``moby``
exporter (``engine_export``), the image config handed over through the gateway API
(``solve_into_engine``). dockerd's BuildKit is as old as the engine (20.10 ships BuildKit 0.8): it
has no ``Info`` method (the node reports no version) and no merge op (``COPY --link``, refused
before the build by ``refuse_missing_ops``); other gaps surface as the failing step's error.
docs/docker.md lists what was found.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import TYPE_CHECKING

from bake.buildkit import BuilderError, NotSupportedRemote
from bake.buildkit.builders import Builder, Node
from bake.buildkit.exporters import CONFIG_ATTR, Export, exporter
from bake.docker import DockerError
from bake.docker.context import Engine, engine, exists
from bake.graph.ops import MergeOp, Vertex, each_vertex

if TYPE_CHECKING:
    from bake.buildkit.control import Control
    from bake.buildkit.proto import control_pb2 as api

DRIVER = "docker"


def context_builder(name: str, env: Mapping[str, str]) -> Builder | None:
    """The ``docker`` builder of Docker context ``name``, or None when there is no such context.
    Its node carries the context's TLS directory (``tls``) and ``verify=false`` when it skips
    verification, as driver options."""
    if not exists(name, env):
        return None
    try:
        found = engine(name, env)
    except DockerError as err:
        raise BuilderError(err.message, name) from None
    opts: tuple[tuple[str, str], ...] = (("tls", found.tls),) if found.tls else ()
    if found.tls and not found.verify:
        opts += (("verify", "false"),)
    return Builder(name, DRIVER, (Node(name, found.host, (), opts),))


def check(builder: Builder) -> tuple[Node, ...]:
    """A docker builder's node, refused before the build when bake cannot reach it this way."""
    if len(builder.nodes) != 1:
        raise BuilderError("a docker builder has exactly one node (its engine)", builder.name)
    node = builder.nodes[0]
    scheme = node.endpoint.partition("://")[0]
    if scheme not in ("unix", "tcp"):
        raise BuilderError(f"engine endpoint {node.endpoint!r}: only unix:// and tcp:// are supported",
                           builder.name, node.name)
    return builder.nodes


def engine_of(node: Node) -> Engine:
    opts = dict(node.driver_opts)
    return Engine(node.endpoint, node.name, opts.get("tls", ""), opts.get("verify") != "false")


@contextlib.asynccontextmanager
async def grpc_endpoint(builder: Builder, node: Node) -> AsyncIterator[str]:
    """A private ``unix://`` endpoint whose connections reach the engine's BuildKit (``/grpc``);
    an engine that cannot be reached, or has no ``/grpc``, is a ``BuilderError`` here."""
    from bake.docker.hijack import relay

    async with contextlib.AsyncExitStack() as stack:
        try:
            endpoint = await stack.enter_async_context(relay(engine_of(node), "/grpc"))
        except DockerError as err:
            raise BuilderError(f"{err.message} (BuildKit's API needs a Docker engine 18.09 or newer)",
                               builder.name, node.name) from None
        yield endpoint


def engine_export(kind: str, dest: str, attrs: Mapping[str, str], tags: Sequence[str], config: bytes | None,
                  epoch: int | None = None) -> Export | None:
    """The exporter of one output on the docker driver: ``type=image`` and ``type=docker`` without
    ``dest=`` (``--load``) go to the engine's image store through dockerd's ``moby`` exporter, named by
    ``name=`` or the tags, with bake's image config; files as on any BuildKit node. What the
    engine's BuildKit cannot export is refused as buildx refuses it for this driver."""
    wanted = {**attrs}
    if kind in ("image", "docker") and not dest and wanted.get("push") != "true":
        plain = exporter("image", "", {k: v for k, v in wanted.items() if k != "tar"}, tags, config, epoch)
        assert plain is not None
        return Export("moby", plain.attrs, "", "")
    if kind in ("oci", "docker"):
        raise NotSupportedRemote(f"output type={kind},dest=…: the docker driver's engine keeps images in its own "
                                 "store; use --load, or a remote builder or the embedded worker for a tarball")
    if kind == "registry" or wanted.get("push") == "true":
        raise NotSupportedRemote(f"output type={kind} with a push: the docker driver loads into the engine; push "
                                 "from the engine, or use a remote builder or the embedded worker")
    return exporter(kind, dest, attrs, tags, config, epoch)


async def solve_into_engine(control: Control, request: api.SolveRequest, export: Export) -> api.SolveResponse:
    """A solve whose ``moby`` export must carry bake's image config: dockerd's exporter reads it
    only from the result's metadata, so the result is returned through the gateway API."""
    from bake.buildkit.gateway import solve_returning

    config = dict(export.attrs).get(CONFIG_ATTR)
    if config is None:
        return await control.solve(request)
    return await solve_returning(control, request, {CONFIG_ATTR: config.encode()})


def refuse_missing_ops(builder: Builder, node: Node, version: str, root: Vertex | None) -> None:
    """Refuse, before building, a graph the engine's BuildKit cannot run. An engine whose BuildKit
    reports no version (no ``Info``: Docker 20.10 and older, BuildKit 0.8 or older) has no merge op,
    which ``COPY --link`` needs; its failure would otherwise read "could not resolve …"."""
    if builder.driver != DRIVER or version or root is None:
        return
    for v in each_vertex([root]):
        if isinstance(v.op, MergeOp):
            where = f"{v.location}: " if v.location else ""
            raise BuilderError(f"{where}COPY --link needs BuildKit's merge op (v0.10 and newer), which this engine's "
                               "BuildKit lacks (Docker 20.10 ships 0.8): build it on the embedded worker or a remote "
                               "builder, or drop --link", builder.name, node.name)
