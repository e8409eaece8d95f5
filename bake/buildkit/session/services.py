"""The session services a solve may call besides file transfer, each answering from a source the
caller injects (the embedded worker's own secret and ssh-agent resolvers, the Docker config):

- ``/moby.buildkit.secrets.v1.Secrets/GetSecret``: a ``RUN --mount=type=secret`` value by id
  (NOT_FOUND when bake has none: BuildKit then fails a required mount and skips an optional one);
- ``/moby.sshforward.v1.SSH/CheckAgent`` and ``/ForwardAgent``: ``RUN --mount=type=ssh``; each
  forwarded connection is one stream, its bytes copied to and from the agent's socket (the id
  travels in the ``buildkit.ssh.id`` header);
- ``/moby.filesync.v1.Auth/Credentials``: registry credentials by host, for pulls and pushes the
  daemon makes (an empty answer: anonymous). Token authority methods stay unimplemented, which
  BuildKit takes as "fetch tokens yourself with these credentials".
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Any

import grpc
import grpc.aio

from bake.buildkit.proto import session_pb2 as pb

SecretSource = Callable[[str], bytes | None]  # id → value (None: unknown)
AgentSource = Callable[[str], str | None]  # ssh id → the agent's unix socket (None: unknown)
CredentialSource = Callable[[str], tuple[str, str] | None]  # registry host → (user, secret)

GET_SECRET = "/moby.buildkit.secrets.v1.Secrets/GetSecret"
CHECK_AGENT = "/moby.sshforward.v1.SSH/CheckAgent"
FORWARD_AGENT = "/moby.sshforward.v1.SSH/ForwardAgent"
CREDENTIALS = "/moby.filesync.v1.Auth/Credentials"
_CHUNK = 1 << 16


async def get_secret(request: bytes, context: grpc.aio.ServicerContext[Any, Any], source: SecretSource) -> bytes:
    req = pb.GetSecretRequest.FromString(request)
    data = await asyncio.to_thread(source, req.ID)
    if data is None:
        await context.abort(grpc.StatusCode.NOT_FOUND, f"secret {req.ID} not found")
    return pb.GetSecretResponse(data=data).SerializeToString()


async def check_agent(request: bytes, context: grpc.aio.ServicerContext[Any, Any], source: AgentSource) -> bytes:
    req = pb.CheckAgentRequest.FromString(request)
    if await _agent(source, req.ID or "default", context) is None:
        return b""  # not reached: _agent aborts
    return pb.CheckAgentResponse().SerializeToString()


async def _agent(source: AgentSource, ssh_id: str, context: grpc.aio.ServicerContext[Any, Any]) -> str | None:
    try:
        sock = await asyncio.to_thread(source, ssh_id)
    except Exception as err:  # a resolver's own error (no SSH_AUTH_SOCK, a key that will not load)
        await context.abort(grpc.StatusCode.FAILED_PRECONDITION, str(err))
        return None
    if sock is None:
        await context.abort(grpc.StatusCode.NOT_FOUND, f"unset ssh forward key {ssh_id}")
    return sock


async def forward_agent(requests: AsyncIterator[bytes], context: grpc.aio.ServicerContext[Any, Any],
                        source: AgentSource) -> AsyncIterator[bytes]:
    md = {k: v for k, v in context.invocation_metadata() or () if isinstance(v, str)}
    sock = await _agent(source, md.get("buildkit.ssh.id") or "default", context)
    if sock is None:
        return
    reader, writer = await asyncio.open_unix_connection(sock)

    async def inbound() -> None:
        with contextlib.suppress(ConnectionError):
            async for raw in requests:
                writer.write(pb.BytesMessage.FromString(raw).data)
                await writer.drain()
        with contextlib.suppress(OSError):
            writer.write_eof()

    task = asyncio.create_task(inbound())
    try:
        while data := await reader.read(_CHUNK):
            yield pb.BytesMessage(data=data).SerializeToString()
    finally:
        task.cancel()
        writer.close()


async def credentials(request: bytes, context: grpc.aio.ServicerContext[Any, Any], source: CredentialSource) -> bytes:
    req = pb.CredentialsRequest.FromString(request)
    host = "docker.io" if req.Host == "registry-1.docker.io" else req.Host  # Docker Hub's creds are filed under docker.io
    try:
        found = await asyncio.to_thread(source, host)
    except Exception as err:  # a resolver's own error (an unreadable Docker config, a credential helper that failed)
        await context.abort(grpc.StatusCode.FAILED_PRECONDITION, f"credentials for {host}: {err}")
        return b""  # not reached: abort raises
    user, secret = found if found is not None else ("", "")
    return pb.CredentialsResponse(Username=user, Secret=secret).SerializeToString()
