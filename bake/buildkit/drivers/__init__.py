"""How bake reaches a builder's node: ``remote`` nodes are dialled at their endpoint as they are,
``docker`` nodes through their engine's API (``docker.py``). ``dialed`` is the one entry;
``refuse_missing_ops`` checks a graph against what the node's BuildKit can run."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from bake.buildkit.builders import Builder, Node
from bake.graph.ops import Vertex


@contextlib.asynccontextmanager
async def dialed(builder: Builder, node: Node) -> AsyncIterator[str]:
    """A gRPC endpoint (``unix://`` or ``tcp://``) for the node's BuildKit while the context lasts."""
    if builder.driver == "docker":
        from bake.buildkit.drivers.docker import grpc_endpoint

        async with grpc_endpoint(builder, node) as endpoint:
            yield endpoint
    else:
        yield node.endpoint


def refuse_missing_ops(builder: Builder, node: Node, version: str, root: Vertex | None) -> None:
    """A ``BuilderError`` naming builder and node when the graph needs an op the node's BuildKit
    (``version``: what Info reported, "" none) lacks; before anything is sent."""
    from bake.buildkit.drivers import docker

    docker.refuse_missing_ops(builder, node, version, root)
