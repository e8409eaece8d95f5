"""A BuildKit session: what the daemon may ask of this client during a solve.

The client opens ``Control.Session``, a stream of byte frames carrying one HTTP/2 connection on
which the *daemon* is the gRPC client and we serve. We serve with grpcio itself: a gRPC server on
a private unix socket, and each frame copied between the stream and a connection to that socket.
Headers tell the daemon the session's id and which methods it may call:

- ``/moby.filesync.v1.FileSync/DiffCopy``: read a local context (``filesync.send_tree``);
- ``/moby.filesync.v1.FileSend/DiffCopy``: receive an export's bytes (``filesync.receive_file``);
- secrets, ssh agent forwarding and registry credentials (``services``), when given sources;
- ``/grpc.health.v1.Health/Check``: the daemon's liveness probe (a session that does not answer
  it is closed).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import secrets as _random
import tempfile
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any

import grpc
import grpc.aio

from bake.buildkit.control import Control
from bake.buildkit.proto import control_pb2 as api
from bake.buildkit.session import services
from bake.buildkit.session.filesync import Lister, Receiver, Tree, receive_file, send_tree
from bake.buildkit.session.services import AgentSource, CredentialSource, SecretSource

_HEALTH_SERVING = b"\x08\x01"  # grpc.health.v1.HealthCheckResponse{status: SERVING}
_CHUNK = 1 << 16
_UNARY = (services.GET_SECRET, services.CHECK_AGENT, services.CREDENTIALS)


class Session:
    """Serve ``trees`` (name → local directory) and, when ``receiver`` is set, an export's bytes.

    ``async with Session(control, trees=…, lister=…) as s:`` then pass ``s.id`` in the solve."""

    def __init__(self, control: Control, *, trees: dict[str, Tree] | None = None, lister: Lister | None = None,
                 receiver: Receiver | Mapping[int, Receiver] | None = None, name: str = "bake", secrets: SecretSource | None = None,
                 agents: AgentSource | None = None, credentials: CredentialSource | None = None) -> None:
        self.control = control
        self.id = _random.token_hex(13)
        self.name = name
        self.trees = trees if trees is not None else {}
        self.lister = lister
        self.receiver = receiver
        self.sources = (secrets, agents, credentials)
        self._stack = contextlib.AsyncExitStack()

    def _methods(self) -> dict[str, Callable[..., Any]]:
        methods: dict[str, Callable[..., Any]] = {"/grpc.health.v1.Health/Check": _health}
        if self.lister is not None:  # trees may be added after the session started
            # partials, not lambdas: grpc tells streaming handlers by their async-generator function
            methods["/moby.filesync.v1.FileSync/DiffCopy"] = functools.partial(send_tree, trees=self.trees,
                                                                                lister=self.lister)
        if self.receiver:  # one, or one per exporter by its position in the request
            methods["/moby.filesync.v1.FileSend/DiffCopy"] = functools.partial(receive_file, receiver=self.receiver)
        secrets, agents, credentials = self.sources
        if secrets is not None:
            methods[services.GET_SECRET] = functools.partial(services.get_secret, source=secrets)
        if agents is not None:
            methods[services.CHECK_AGENT] = functools.partial(services.check_agent, source=agents)
            methods[services.FORWARD_AGENT] = functools.partial(services.forward_agent, source=agents)
        if credentials is not None:
            methods[services.CREDENTIALS] = functools.partial(services.credentials, source=credentials)
        return methods

    async def __aenter__(self) -> Session:
        methods = self._methods()
        tmp = self._stack.enter_context(tempfile.TemporaryDirectory(prefix="bake-session-"))
        sock = os.path.join(tmp, "s.sock")
        server = grpc.aio.server()
        server.add_generic_rpc_handlers((_Handlers(methods),))
        server.add_insecure_port(f"unix://{sock}")
        await server.start()
        self._stack.push_async_callback(server.stop, None)
        meta = [("x-docker-expose-session-uuid", self.id), ("x-docker-expose-session-name", self.name),
                ("x-docker-expose-session-sharedkey", "")]
        meta += [("x-docker-expose-session-grpc-method", m) for m in methods]
        call = self.control.session(meta)
        reader, writer = await asyncio.open_unix_connection(sock)
        pumps = [asyncio.create_task(_inbound(call, writer)), asyncio.create_task(_outbound(reader, call))]

        async def stop() -> None:
            call.cancel()
            for p in pumps:
                p.cancel()
            writer.close()
            await asyncio.gather(*pumps, return_exceptions=True)

        self._stack.push_async_callback(stop)
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._stack.aclose()


async def _inbound(call: Any, writer: asyncio.StreamWriter) -> None:
    """Daemon → our server."""
    with contextlib.suppress(grpc.aio.AioRpcError, ConnectionError):
        async for msg in call:
            writer.write(msg.data)
            await writer.drain()
    writer.close()


async def _outbound(reader: asyncio.StreamReader, call: Any) -> None:
    """Our server → daemon."""
    with contextlib.suppress(grpc.aio.AioRpcError, ConnectionError, asyncio.InvalidStateError):
        while data := await reader.read(_CHUNK):
            await call.write(api.BytesMessage(data=data))
        await call.done_writing()


async def _health(request: bytes, context: grpc.aio.ServicerContext[Any, Any]) -> bytes:
    return _HEALTH_SERVING


class _Handlers(grpc.GenericRpcHandler):
    """Raw-bytes handlers by method path (messages are decoded by the handlers themselves)."""

    def __init__(self, methods: dict[str, Callable[..., Any]]) -> None:
        self.methods = methods

    def service(self, details: grpc.HandlerCallDetails) -> grpc.RpcMethodHandler[Any, Any] | None:
        method: str = details.method
        fn = self.methods.get(method)
        if fn is None:
            return None
        if method.startswith("/grpc.health") or method in _UNARY:
            return grpc.unary_unary_rpc_method_handler(fn)
        return grpc.stream_stream_rpc_method_handler(fn)


__all__ = ["AsyncIterator", "Session", "Tree"]
