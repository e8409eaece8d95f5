"""Upgraded connections: the request the engine sees, a refusal that is not 101, and the relay
that turns each connection to its private socket into an upgraded one (bytes both ways)."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from bake.docker import DockerError
from bake.docker.context import Engine
from bake.docker.hijack import relay, upgrade


class FakeEngine:
    """Answers ``POST /grpc`` with 101 and then echoes, upper-cased; anything else with 404.
    Counts the upgrades it granted."""

    def __init__(self) -> None:
        self.heads: list[bytes] = []
        self.handlers: list[asyncio.Task[object]] = []

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self.handlers.append(task)
        head = await reader.readuntil(b"\r\n\r\n")
        self.heads.append(head)
        if not head.startswith(b"POST /grpc "):
            writer.write(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")
            writer.close()
            await writer.wait_closed()
            return
        writer.write(b"HTTP/1.1 101 UPGRADED\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n")
        while data := await reader.read(1024):
            writer.write(data.upper())
            await writer.drain()
        writer.close()
        await writer.wait_closed()


async def with_engine(tmp_path: Path, body: object) -> FakeEngine:
    fake = FakeEngine()
    sock = os.path.join(tmp_path, "docker.sock")
    server = await asyncio.start_unix_server(fake.serve, sock)
    async with server:
        await body(Engine(f"unix://{sock}"))  # type: ignore[operator]
        await asyncio.gather(*fake.handlers)  # each connection ended on both sides
    return fake


def test_upgrade_sends_the_upgrade_request_with_headers(tmp_path: Path) -> None:
    async def body(engine: Engine) -> None:
        reader, writer = await upgrade(engine, "/grpc", headers=[("X-Docker-Expose-Session-Uuid", "abc")])
        writer.write(b"ping")
        assert await reader.readexactly(4) == b"PING"
        writer.close()
        await writer.wait_closed()

    fake = asyncio.run(with_engine(tmp_path, body))
    head = fake.heads[0].decode()
    assert head.startswith("POST /grpc HTTP/1.1\r\n")
    assert "Upgrade: h2c\r\n" in head and "Connection: Upgrade\r\n" in head
    assert "X-Docker-Expose-Session-Uuid: abc\r\n" in head


def test_an_answer_other_than_101_is_a_docker_error(tmp_path: Path) -> None:
    async def body(engine: Engine) -> None:
        with pytest.raises(DockerError, match=r"upgrading /nope: HTTP/1\.1 404 Not Found"):
            await upgrade(engine, "/nope")

    asyncio.run(with_engine(tmp_path, body))


def test_the_relay_upgrades_every_connection(tmp_path: Path) -> None:
    async def body(engine: Engine) -> None:
        async with relay(engine) as endpoint:
            assert endpoint.startswith("unix://")
            for word in (b"one", b"two"):
                reader, writer = await asyncio.open_unix_connection(endpoint[len("unix://"):])
                writer.write(word)
                assert await reader.readexactly(3) == word.upper()
                writer.close()
                await writer.wait_closed()

    fake = asyncio.run(with_engine(tmp_path, body))
    assert len(fake.heads) == 3  # the probe, then one per connection


def test_a_relay_to_an_absent_engine_fails_before_it_is_used(tmp_path: Path) -> None:
    async def body() -> None:
        async with relay(Engine(f"unix://{tmp_path}/absent.sock")):
            raise AssertionError("not reached")

    with pytest.raises(DockerError, match="cannot reach the engine"):
        asyncio.run(body())
