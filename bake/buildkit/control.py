"""A client of BuildKit's control API (``moby.buildkit.v1.Control``) over gRPC: Solve, Status,
Session, ListWorkers and Info, on a ``unix://`` socket or a ``tcp://`` address (plain, or TLS with
the node's CA, client certificate and key).

Methods are called by path with our own message classes (``proto/control.proto``); no service
stubs are generated. Every failure reaching the caller is a ``BuilderError`` naming the node.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any

# gRPC's C core logs failed handshakes to stderr on its own; bake reports every failure itself,
# once, naming builder and node (set GRPC_VERBOSITY to see the core's logs)
os.environ.setdefault("GRPC_VERBOSITY", "NONE")

import grpc
import grpc.aio

from bake._record import record
from bake.buildkit import BuilderError
from bake.buildkit.builders import TLS
from bake.buildkit.proto import control_pb2 as api

_SERVICE = "/moby.buildkit.v1.Control/"
_MAX = 64 << 20  # definitions with inline files and big status batches exceed gRPC's 4 MiB default
_OPTIONS = [("grpc.max_receive_message_length", _MAX), ("grpc.max_send_message_length", _MAX)]


@record
class DaemonInfo:
    version: str  # "v0.32.2"
    platforms: tuple[str, ...]  # every worker's, in the daemon's order


def grpc_target(endpoint: str) -> str:
    """``unix:///run/buildkit.sock`` stays; ``tcp://host:port`` becomes ``host:port``."""
    scheme, _, rest = endpoint.partition("://")
    if scheme == "unix":
        return endpoint
    if scheme == "tcp":
        return rest
    raise ValueError(f"unsupported endpoint {endpoint!r}")


class Control:
    """One connection to a daemon; use as ``async with Control(endpoint, builder, node) as c``."""

    def __init__(self, endpoint: str, builder: str = "", node: str = "", tls: TLS | None = None) -> None:
        self.endpoint = endpoint
        self.builder = builder
        self.node = node
        self.tls = tls
        if tls is None:
            self.channel = grpc.aio.insecure_channel(grpc_target(endpoint), options=_OPTIONS)
        else:
            creds = grpc.ssl_channel_credentials(_read(tls.cacert, builder, node), _read(tls.key, builder, node),
                                                 _read(tls.cert, builder, node))
            options = [*_OPTIONS, ("grpc.ssl_target_name_override", tls.servername)]
            self.channel = grpc.aio.secure_channel(grpc_target(endpoint), creds, options=options)

    async def __aenter__(self) -> Control:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.channel.close()

    def error(self, what: str, err: grpc.RpcError) -> BuilderError:
        """A gRPC failure as the user should read it, with the builder and node."""
        code = err.code() if isinstance(err, grpc.aio.AioRpcError) else None
        detail = err.details() if isinstance(err, grpc.aio.AioRpcError) else str(err)
        if code == grpc.StatusCode.UNAVAILABLE:
            hint = " (TLS: check the node's cacert, cert, key and servername)" if self.tls is not None else ""
            return BuilderError(f"cannot reach buildkitd at {self.endpoint}: {detail}{hint}", self.builder, self.node)
        return BuilderError(f"{what}: {detail}", self.builder, self.node)

    def _unary(self, method: str, response: Any) -> grpc.aio.UnaryUnaryMultiCallable[Any, Any]:
        return self.channel.unary_unary(_SERVICE + method, request_serializer=_serialize,
                                        response_deserializer=response.FromString)

    async def info(self, timeout: float = 10.0) -> DaemonInfo:
        """The daemon's version and platforms: the reachability check made before a build."""
        try:
            try:
                info = await self._unary("Info", api.InfoResponse)(api.InfoRequest(), timeout=timeout,
                                                                   wait_for_ready=False)
            except grpc.aio.AioRpcError as err:  # BuildKit before v0.11 (dockerd 20.10's) has no Info
                if err.code() != grpc.StatusCode.UNIMPLEMENTED:
                    raise
                info = api.InfoResponse()
            workers = await self._unary("ListWorkers", api.ListWorkersResponse)(api.ListWorkersRequest(),
                                                                                timeout=timeout)
        except grpc.aio.AioRpcError as err:
            raise self.error("asking for the daemon's version", err) from None
        platforms: list[str] = []
        for w in workers.record:
            for p in w.platforms:
                spec = "/".join(x for x in (p.OS, p.Architecture, p.Variant) if x)
                if spec not in platforms:
                    platforms.append(spec)
        return DaemonInfo(info.buildkitVersion.version, tuple(platforms))

    async def solve(self, request: api.SolveRequest) -> api.SolveResponse:
        try:
            response: api.SolveResponse = await self._unary("Solve", api.SolveResponse)(request)
        except grpc.aio.AioRpcError as err:
            raise SolveFailed(err.details() or str(err.code()), self.builder, self.node) from None
        return response

    async def solve_returning(self, request: api.SolveRequest, metadata: Mapping[str, bytes]) -> api.SolveResponse:
        """Solve ``request`` so that its result carries ``metadata`` (a client-side gateway build:
        ``bake.buildkit.gateway``), which BuildKit's exporters and attestations read."""
        from bake.buildkit.gateway import solve_returning

        return await solve_returning(self, request, metadata)

    async def status(self, ref: str) -> AsyncIterator[api.StatusResponse]:
        """Progress of solve ``ref`` until it ends (may start before the solve does)."""
        call = self.channel.unary_stream(_SERVICE + "Status", request_serializer=_serialize,
                                         response_deserializer=api.StatusResponse.FromString)
        try:
            async for update in call(api.StatusRequest(Ref=ref)):
                yield update
        except grpc.aio.AioRpcError as err:
            if err.code() != grpc.StatusCode.CANCELLED:
                raise self.error("reading progress", err) from None

    def session(self, metadata: Sequence[tuple[str, str]]) -> grpc.aio.StreamStreamCall[Any, Any]:
        """Open the session stream: frames of an HTTP/2 connection on which the daemon is the client."""
        call = self.channel.stream_stream(_SERVICE + "Session", request_serializer=_serialize,
                                          response_deserializer=api.BytesMessage.FromString)
        return call(metadata=tuple(metadata))


class SolveFailed(BuilderError):
    """The daemon refused or failed a solve; ``reason`` is its message (the failing step's error)."""

    def __init__(self, reason: str, builder: str = "", node: str = "") -> None:
        self.reason = reason
        super().__init__(reason, builder, node)


def _read(path: str, builder: str, node: str) -> bytes | None:
    if not path:
        return None
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError as err:
        raise BuilderError(f"cannot read TLS file {path}: {err.strerror or err}", builder, node) from None


def _serialize(message: Any) -> bytes:
    data: bytes = message.SerializeToString(deterministic=True)
    return data
