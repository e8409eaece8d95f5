"""How bake reaches a builder's node: ``remote`` nodes are dialled at their endpoint as they are,
``docker`` nodes through their engine's API (``docker.py``). ``dialed`` is the one entry."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from bake.buildkit.builders import Builder, Node


@contextlib.asynccontextmanager
async def dialed(builder: Builder, node: Node) -> AsyncIterator[str]:
    """A gRPC endpoint (``unix://`` or ``tcp://``) for the node's BuildKit while the context lasts."""
    if builder.driver == "docker":
        from bake.buildkit.drivers.docker import grpc_endpoint

        async with grpc_endpoint(builder, node) as endpoint:
            yield endpoint
    else:
        yield node.endpoint
