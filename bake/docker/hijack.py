"""Connections the Docker engine hands over: ``POST <path>`` with ``Upgrade: h2c``, answered by
``101 Switching Protocols``, after which the socket carries another protocol (HTTP/2 with prior
knowledge). dockerd serves BuildKit's gRPC API this way on ``/grpc``, and takes a build session
on ``/session`` (where *it* is the HTTP/2 client).

grpcio cannot dial through an upgrade, so ``relay`` listens on a private unix socket and turns
every connection made to it into an upgraded connection to the engine, copying bytes both ways:
a gRPC channel pointed at the relay's socket talks to the engine's BuildKit.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import tempfile
from collections.abc import AsyncIterator, Sequence

from bake.docker import DockerError
from bake.docker.context import Engine

_CHUNK = 1 << 16
_HEAD_LIMIT = 64 << 10


async def upgrade(engine: Engine, path: str, proto: str = "h2c",
                  headers: Sequence[tuple[str, str]] = ()) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A connection to ``engine`` upgraded on ``path``: its streams, positioned after the 101 answer."""
    scheme, _, rest = engine.host.partition("://")
    try:
        if scheme == "unix":
            reader, writer = await asyncio.open_unix_connection(rest)
        elif scheme == "tcp" and not engine.tls:
            host, _, port = rest.rpartition(":")
            reader, writer = await asyncio.open_connection(host.strip("[]"), int(port))
        elif scheme == "tcp":
            from bake.docker.client import tls_context

            host, _, port = rest.rpartition(":")
            reader, writer = await asyncio.open_connection(host.strip("[]"), int(port), ssl=tls_context(engine))
        else:
            raise DockerError(f"unsupported endpoint scheme {scheme!r} (supported: unix://, tcp://)", engine.host)
    except (OSError, ValueError) as err:
        raise DockerError(f"cannot reach the engine: {err}", engine.host) from None
    lines = [f"POST {path} HTTP/1.1", "Host: docker", "Connection: Upgrade", f"Upgrade: {proto}",
             "Content-Length: 0", *(f"{k}: {v}" for k, v in headers)]
    writer.write(("\r\n".join(lines) + "\r\n\r\n").encode())
    try:
        await writer.drain()
        head = await reader.readuntil(b"\r\n\r\n")
    except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError) as err:
        writer.close()
        raise DockerError(f"upgrading {path}: the engine closed the connection ({err})", engine.host) from None
    status = head.split(b"\r\n", 1)[0].decode("latin-1")
    if status.split(" ")[1:2] != ["101"]:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
        raise DockerError(f"upgrading {path}: {status}", engine.host)
    return reader, writer


@contextlib.asynccontextmanager
async def relay(engine: Engine, path: str = "/grpc") -> AsyncIterator[str]:
    """A private ``unix://`` endpoint whose every connection is upgraded on ``path`` at ``engine``.

    The engine is asked once before the endpoint is yielded, so an unreachable engine or one
    without the endpoint fails here, as a ``DockerError``, rather than inside gRPC's retries."""
    _, probe = await upgrade(engine, path)
    probe.close()
    with contextlib.suppress(OSError):
        await probe.wait_closed()
    pumps: set[asyncio.Task[None]] = set()
    handlers: set[asyncio.Task[object]] = set()

    async def serve(client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        me = asyncio.current_task()
        assert me is not None
        handlers.add(me)
        try:
            up_r, up_w = await upgrade(engine, path)
        except (DockerError, asyncio.CancelledError):
            client_w.close()
            handlers.discard(me)
            return
        mine = {asyncio.create_task(pump(client_r, up_w)), asyncio.create_task(pump(up_r, client_w))}
        pumps.update(mine)
        # the handler task is not awaited by anyone: it ends quietly when the relay closes
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait(mine, return_when=asyncio.FIRST_COMPLETED)
        for p in mine:
            p.cancel()
        await asyncio.gather(*mine, return_exceptions=True)
        pumps.difference_update(mine)
        for w in (up_w, client_w):
            w.close()
        handlers.discard(me)

    with tempfile.TemporaryDirectory(prefix="bake-docker-") as tmp:
        sock = os.path.join(tmp, "grpc.sock")
        server = await asyncio.start_unix_server(serve, sock, limit=_HEAD_LIMIT)
        try:
            yield f"unix://{sock}"
        finally:
            server.close()
            for t in list(pumps):
                t.cancel()
            await asyncio.gather(*handlers, return_exceptions=True)
            await server.wait_closed()


async def pump(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Copy until end of stream, then half-close the other side."""
    with contextlib.suppress(OSError):
        while data := await reader.read(_CHUNK):
            writer.write(data)
            await writer.drain()
        if writer.can_write_eof():
            writer.write_eof()
