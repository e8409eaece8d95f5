"""RUN --mount=type=ssh: agents forwarded through per-mount proxy sockets, keys via a private agent."""

from __future__ import annotations

import shutil
import socket
import struct
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from bake.graph.ops import Mount as GraphMount
from bake.model import SSHEntry
from bake.worker.errors import SSHError
from bake.worker.executor import Process, RuncExecutor
from bake.worker.sshagents import SSHAgents

pytestmark = pytest.mark.anyio


def identities(sock: str) -> int:
    """Ask an agent how many keys it holds (SSH_AGENTC_REQUEST_IDENTITIES → SSH_AGENT_IDENTITIES_ANSWER)."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.connect(sock)
        s.sendall(struct.pack(">IB", 1, 11))
        header = s.recv(9)
        _length, kind, count = struct.unpack(">IBI", header)
        assert kind == 12
        return int(count)


@pytest.fixture
def key(tmp_path: Path) -> Path:
    path = tmp_path / "id_ed25519"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(path)], check=True)
    return path


@pytest.fixture
def host_agent(tmp_path: Path, key: Path) -> Iterator[str]:
    sock = str(tmp_path / "agent.sock")
    proc = subprocess.Popen(["ssh-agent", "-D", "-a", sock], stdout=subprocess.DEVNULL)
    try:
        for _ in range(200):
            if Path(sock).exists():
                break
            subprocess.run(["sleep", "0.01"])
        subprocess.run(["ssh-add", "-q", str(key)], env={"SSH_AUTH_SOCK": sock}, check=True)
        yield sock
    finally:
        proc.terminate()
        proc.wait()


def ssh_mount(sid: str = "default", target: str = "/run/buildkit/ssh_agent.0", **kw: object) -> GraphMount:
    return GraphMount(target, "ssh", secret_id=sid, readonly=True, **kw)  # type: ignore[arg-type]


@pytest.mark.root
async def test_default_agent_reaches_the_container_through_a_proxy(host_agent: str, busybox_rootfs: Path,
                                                                   tmp_path: Path) -> None:
    rootfs = tmp_path / "rootfs"
    shutil.copytree(busybox_rootfs, rootfs, symlinks=True)
    agents = SSHAgents([SSHEntry("default")], {"SSH_AUTH_SOCK": host_agent})
    try:
        mount, env = agents.realize(ssh_mount(mode=0o600, uid=1000, gid=1000))
        assert mount is not None and mount.source != host_agent  # never the host socket itself
        assert env == {"SSH_AUTH_SOCK": "/run/buildkit/ssh_agent.0"}
        assert identities(mount.source) == 1  # the proxy speaks to the real agent
        out: list[bytes] = []
        script = 'test -S "$SSH_AUTH_SOCK" && stat -c "%a %u %g" "$SSH_AUTH_SOCK"'
        result = await RuncExecutor(str(tmp_path)).run(
            str(rootfs), Process(("/bin/sh", "-c", script), env=tuple(f"{k}={v}" for k, v in env.items())),
            (mount,), out.append)
        assert result.exit_code == 0 and b"".join(out).decode().split() == ["600", "1000", "1000"]
    finally:
        agents.close()


async def test_key_files_are_served_by_a_private_agent(key: Path) -> None:
    agents = SSHAgents([SSHEntry("deploy", (str(key),))], {})
    try:
        mount, _ = agents.realize(ssh_mount("deploy", "/root/agent.sock"))
        assert mount is not None and identities(mount.source) == 1
    finally:
        agents.close()


async def test_missing_ids_and_agents(tmp_path: Path) -> None:
    agents = SSHAgents([SSHEntry("default"), SSHEntry("bad", (str(tmp_path / "nokey"),))], {})
    try:
        with pytest.raises(SSHError, match="SSH_AUTH_SOCK is not set"):
            agents.realize(ssh_mount())
        with pytest.raises(SSHError, match="ssh other: not provided"):
            agents.realize(ssh_mount("other", required=True))
        assert agents.realize(ssh_mount("other")) == (None, {})  # optional and absent: no mount
        with pytest.raises(SSHError, match="cannot load key"):
            agents.realize(ssh_mount("bad"))
    finally:
        agents.close()
