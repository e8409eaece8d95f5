"""The session services the daemon calls back (``bake.buildkit.session.services``), driven as the
gRPC server would drive them, with a context that records aborts."""

from __future__ import annotations

import asyncio
import os
import tempfile
from collections.abc import AsyncIterator
from typing import Any

import pytest

from bake.buildkit.proto import session_pb2 as pb
from bake.buildkit.session import services


class Aborted(Exception):
    pass


class Context:
    """What the handlers use of ``grpc.aio.ServicerContext``: the call's headers and abort."""

    def __init__(self, headers: tuple[tuple[str, str], ...] = ()) -> None:
        self.headers = headers
        self.aborts: list[tuple[object, str]] = []

    def invocation_metadata(self) -> tuple[tuple[str, str], ...]:
        return self.headers

    async def abort(self, code: object, details: str) -> None:
        self.aborts.append((code, details))
        raise Aborted(details)


def run(coro: Any) -> Any:
    return asyncio.run(coro)


def test_secrets_by_id_and_not_found() -> None:
    asked: list[str] = []

    def source(sid: str) -> bytes | None:
        asked.append(sid)
        return b"s3cret" if sid == "tok" else None

    ctx = Context()
    got = run(services.get_secret(pb.GetSecretRequest(ID="tok").SerializeToString(), ctx, source))  # type: ignore[arg-type]
    assert pb.GetSecretResponse.FromString(got).data == b"s3cret"
    with pytest.raises(Aborted, match="secret nope not found"):
        run(services.get_secret(pb.GetSecretRequest(ID="nope").SerializeToString(), ctx, source))  # type: ignore[arg-type]
    assert asked == ["tok", "nope"]
    assert [str(code) for code, _ in ctx.aborts] == ["StatusCode.NOT_FOUND"]


def test_credentials_by_host_and_docker_hubs_name() -> None:
    hosts: list[str] = []

    def source(host: str) -> tuple[str, str] | None:
        hosts.append(host)
        return ("u", "p") if host == "docker.io" else None

    hub = run(services.credentials(pb.CredentialsRequest(Host="registry-1.docker.io").SerializeToString(), Context(),  # type: ignore[arg-type]
                                   source))
    other = run(services.credentials(pb.CredentialsRequest(Host="r.example").SerializeToString(), Context(), source))  # type: ignore[arg-type]
    assert pb.CredentialsResponse.FromString(hub) == pb.CredentialsResponse(Username="u", Secret="p")
    assert pb.CredentialsResponse.FromString(other) == pb.CredentialsResponse()  # anonymous
    assert hosts == ["docker.io", "r.example"]


def test_a_credential_helper_that_fails_is_a_precondition_the_daemon_reports() -> None:
    from bake.registry.auth import AuthError

    def source(host: str) -> tuple[str, str] | None:
        raise AuthError(f"docker-credential-pass get {host}: exit status 1")

    ctx = Context()
    with pytest.raises(Aborted, match=r"credentials for r\.example: docker-credential-pass get r\.example"):
        run(services.credentials(pb.CredentialsRequest(Host="r.example").SerializeToString(), ctx, source))  # type: ignore[arg-type]
    assert [str(code) for code, _ in ctx.aborts] == ["StatusCode.FAILED_PRECONDITION"]


def test_ssh_agent_connections_are_forwarded_byte_for_byte() -> None:
    async def scenario() -> tuple[list[bytes], list[bytes], list[str]]:
        seen: list[bytes] = []
        with tempfile.TemporaryDirectory() as tmp:
            sock = os.path.join(tmp, "agent.sock")

            async def agent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
                data = await reader.read(100)
                seen.append(data)
                writer.write(b"\0\0\0\1\14")  # SSH_AGENT_IDENTITIES_ANSWER, no keys (framing aside)
                await writer.drain()
                writer.close()

            server = await asyncio.start_unix_server(agent, sock)
            ids: list[str] = []

            def source(ssh_id: str) -> str | None:
                ids.append(ssh_id)
                return sock if ssh_id == "deploy" else None

            async def requests() -> AsyncIterator[bytes]:
                yield pb.BytesMessage(data=b"\0\0\0\1\13").SerializeToString()

            ctx = Context((("buildkit.ssh.id", "deploy"),))
            out = [pb.BytesMessage.FromString(b).data
                   async for b in services.forward_agent(requests(), ctx, source)]  # type: ignore[arg-type]
            server.close()
            ok = await services.check_agent(pb.CheckAgentRequest(ID="deploy").SerializeToString(), Context(),  # type: ignore[arg-type]
                                            source)
            assert ok == b""  # an empty CheckAgentResponse
            with pytest.raises(Aborted, match="unset ssh forward key other"):
                await services.check_agent(pb.CheckAgentRequest(ID="other").SerializeToString(), Context(), source)  # type: ignore[arg-type]
            return seen, out, ids

    seen, out, ids = run(scenario())
    assert seen == [b"\0\0\0\1\13"]
    assert b"".join(out) == b"\0\0\0\1\14"
    assert ids == ["deploy", "deploy", "other"]


def test_an_exports_bytes_go_to_the_receiver_of_its_exporter(tmp_path: Any) -> None:
    import io

    from bake.buildkit.proto import control_pb2 as api
    from bake.buildkit.session.filesync import receive_file

    got: dict[int, io.BytesIO] = {}

    class Kept(io.BytesIO):
        def close(self) -> None:  # keep the bytes readable after receive_file closes it
            pass

    def receiver(i: int) -> Any:
        def opened() -> io.BytesIO:
            got[i] = Kept()
            return got[i]
        return opened

    async def frames(*chunks: bytes) -> AsyncIterator[bytes]:
        for c in chunks:
            yield api.BytesMessage(data=c).SerializeToString()

    async def scenario() -> None:
        receivers = {0: receiver(0), 2: receiver(2)}
        for which, data in (("2", b"second"), ("0", b"first")):
            ctx = Context((("buildkit-attachable-exporter-id", which),))
            async for _ in receive_file(frames(data[:3], data[3:]), ctx, receivers):  # type: ignore[arg-type]
                pass
        with pytest.raises(Aborted, match="no receiver for exporter 1"):
            async for _ in receive_file(frames(b"x"), Context((("buildkit-attachable-exporter-id", "1"),)),  # type: ignore[arg-type]
                                        receivers):
                pass

    run(scenario())
    assert {i: b.getvalue() for i, b in got.items()} == {0: b"first", 2: b"second"}


def test_a_local_context_is_listed_then_sent_as_the_daemon_asks(tmp_path: Any) -> None:
    from bake.buildkit.proto import filesync_pb2 as fs
    from bake.buildkit.session.filesync import Tree, send_tree

    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "big.bin").write_bytes(b"x" * (100 << 10))  # several DATA packets
    (tmp_path / "a.txt").write_text("a")
    os.symlink("a.txt", tmp_path / "link")
    listed: list[tuple[str, tuple[str, ...]]] = []

    def lister(path: str, excludes: tuple[str, ...]) -> list[str]:
        listed.append((path, excludes))
        return ["a.txt", "d", "d/big.bin", "link"]

    async def scenario() -> list[Any]:
        asked: asyncio.Queue[bytes | None] = asyncio.Queue()

        async def requests() -> AsyncIterator[bytes]:
            while (raw := await asked.get()) is not None:
                yield raw

        out = []
        stream = send_tree(requests(), Context((("dir-name", "ctx"),)), {"ctx": Tree(str(tmp_path), ("*.log",))},  # type: ignore[arg-type]
                           lister)
        async for raw in stream:
            p = fs.Packet.FromString(raw)
            out.append(p)
            if p.type == fs.Packet.PACKET_STAT and not p.stat.path:  # the listing ended: ask for big.bin, then a.txt
                for i in (2, 0):
                    asked.put_nowait(fs.Packet(type=fs.Packet.PACKET_REQ, ID=i).SerializeToString())
                asked.put_nowait(fs.Packet(type=fs.Packet.PACKET_FIN).SerializeToString())
                asked.put_nowait(None)
        return out

    packets = run(scenario())
    assert listed == [(str(tmp_path), ("*.log",))]
    stats = [p.stat for p in packets if p.type == fs.Packet.PACKET_STAT]
    assert [s.path for s in stats] == ["a.txt", "d", "d/big.bin", "link", ""]
    assert stats[1].mode & (1 << 31) and stats[3].linkname == "a.txt"  # Go's ModeDir; a link's target
    data: dict[int, bytes] = {}
    ends = []
    for p in packets:
        if p.type == fs.Packet.PACKET_DATA:
            if p.data:
                data[p.ID] = data.get(p.ID, b"") + p.data
            else:
                ends.append(p.ID)
    assert data == {2: b"x" * (100 << 10), 0: b"a"} and ends == [2, 0]
    assert max(len(p.data) for p in packets) <= 32 << 10  # fsutil's packet size
    assert packets[-1].type == fs.Packet.PACKET_FIN


def test_an_unknown_context_name_is_refused() -> None:
    from bake.buildkit.session.filesync import send_tree

    async def scenario() -> None:
        async def requests() -> AsyncIterator[bytes]:
            return
            yield b""

        async for _ in send_tree(requests(), Context((("dir-name", "other"),)), {}, lambda p, e: []):  # type: ignore[arg-type]
            pass

    with pytest.raises(Aborted, match="no access allowed to dir 'other'"):
        run(scenario())
