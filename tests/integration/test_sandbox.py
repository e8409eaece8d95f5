"""The RUN sandbox with the real runtime: a seccomp filter that refuses new namespaces and mounts,
and a network namespace of the build's own that reaches out but never into the host's loopback."""

from __future__ import annotations

import os
import shutil
import socket
import socketserver
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from bake.worker.executor import Process, RuncExecutor

pytestmark = [pytest.mark.anyio, pytest.mark.root]
RUNTIME = os.environ.get("BAKE_TEST_RUNTIME", "runc")


@pytest.fixture
def rootfs(busybox_rootfs: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "rootfs"
    shutil.copytree(busybox_rootfs, copy, symlinks=True)
    return copy


async def run(rootfs: Path, tmp_path: Path, script: str, allow: tuple[str, ...] = (), **kw: str) -> tuple[int, str]:
    out: list[bytes] = []
    executor = RuncExecutor(str(tmp_path), runtime=RUNTIME, allow=allow)
    try:
        result = await executor.run(str(rootfs), Process(("/bin/sh", "-c", script), **kw), (), out.append)
    finally:
        executor.close()
    return result.exit_code, b"".join(out).decode()


ESCAPES = {
    "user+mount namespace": "unshare -U -r -m sh -c 'mount -t tmpfs none /mnt'",
    "network namespace": "unshare -n true",
    "mount": "mount -t tmpfs none /mnt",
}


@pytest.mark.parametrize("script", ESCAPES.values(), ids=ESCAPES.keys())
async def test_seccomp_refuses_namespaces_and_mounts(rootfs: Path, tmp_path: Path, script: str) -> None:
    code, out = await run(rootfs, tmp_path, f"mkdir -p /mnt && {script} && echo ESCAPED")
    assert code != 0 and "ESCAPED" not in out
    assert any(m in out for m in ("Operation not permitted", "permission denied")), out


async def test_security_insecure_lifts_the_filter(rootfs: Path, tmp_path: Path) -> None:
    script = "mkdir -p /mnt && " + ESCAPES["user+mount namespace"] + " && echo ESCAPED"
    code, out = await run(rootfs, tmp_path, script, allow=("security.insecure",), security="insecure")
    assert (code, out.strip()) == (0, "ESCAPED")


async def test_ordinary_work_passes_the_filter(rootfs: Path, tmp_path: Path) -> None:
    code, out = await run(rootfs, tmp_path, "mkdir -p /a/b && echo hi > /a/b/f && chmod 600 /a/b/f && "
                                            "chown 1000:1000 /a/b/f && (sleep 0 &) && wait && cat /a/b/f")
    assert (code, out.strip()) == (0, "hi")


class _Hello(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        self.request.sendall(b"hello")


def _serve(host: str) -> Iterator[int]:
    """A TCP service on ``host`` that says hello (busybox's static wget crashes resolving names)."""
    server = socketserver.ThreadingTCPServer((host, 0), _Hello)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def loopback_port() -> Iterator[int]:
    yield from _serve("127.0.0.1")


def _outward_address() -> str | None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.connect(("192.0.2.1", 9))  # no packet is sent: this only picks the outward interface
            address: str = s.getsockname()[0]
        except OSError:
            return None
    return None if address.startswith("127.") else address


async def test_the_default_network_reaches_out_but_not_the_hosts_loopback(
        rootfs: Path, tmp_path: Path, loopback_port: int) -> None:
    script = (f"nc -w 3 127.0.0.1 {loopback_port} </dev/null || echo NO-LOOPBACK; "
              f"nc -w 3 10.0.2.2 {loopback_port} </dev/null || echo NO-HOST-LOOPBACK; "
              "ls /sys/class/net; grep nameserver /etc/resolv.conf")
    code, out = await run(rootfs, tmp_path, script)
    assert "hello" not in out and "NO-LOOPBACK" in out and "NO-HOST-LOOPBACK" in out
    assert "tap0" in out.split() and "nameserver 10.0.2.3" in out
    outward = _outward_address()
    if outward is None:
        pytest.skip("this machine has no outward interface to reach")
    for port in _serve(outward):
        code, out = await run(rootfs, tmp_path, f"nc -w 5 {outward} {port} </dev/null")
        assert (code, out) == (0, "hello")


async def test_network_host_reaches_the_hosts_loopback(rootfs: Path, tmp_path: Path, loopback_port: int) -> None:
    code, out = await run(rootfs, tmp_path, f"nc -w 3 127.0.0.1 {loopback_port} </dev/null",
                          allow=("network.host",), network="host")
    assert (code, out) == (0, "hello")


async def test_steps_of_one_build_share_its_namespace(rootfs: Path, tmp_path: Path) -> None:
    executor = RuncExecutor(str(tmp_path), runtime=RUNTIME)
    try:
        for _ in range(2):
            result = await executor.run(str(rootfs), Process(("/bin/true",)))
            assert result.exit_code == 0
        path = executor.network.path()
        assert os.path.exists(path)
    finally:
        executor.close()
    assert not os.path.exists(path)
