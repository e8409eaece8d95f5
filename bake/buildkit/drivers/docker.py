"""buildx's ``docker`` driver: the BuildKit built into ``dockerd``, reached through the Docker API.

A builder of this driver is a Docker context (buildx looks a name up in its own store first, then
among the contexts; ``default`` always exists and follows ``DOCKER_HOST``). Its one node's
endpoint is the engine's (``unix:///var/run/docker.sock``, ``tcp://…``). BuildKit's control API is
served on the engine's ``/grpc`` endpoint after an HTTP upgrade to h2c; bake's gRPC channel goes
through a private relay that performs that upgrade for each connection (``bake.docker.hijack``).
The build session rides on the control API's ``Session`` stream, as with a ``remote`` node.

dockerd's BuildKit is as old as the engine (20.10 ships BuildKit 0.8): it has no ``Info`` method
(the node reports no version), and lacks newer LLB features (merge and diff ops, some file-op
options); what it refuses is reported as the failing step's error.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Mapping

from bake.buildkit import BuilderError
from bake.buildkit.builders import Builder, Node
from bake.docker import DockerError
from bake.docker.context import Engine, engine, exists

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
