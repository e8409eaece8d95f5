"""Secrets and SSH agents for RUN mounts: where a secret's value comes from (buildx's rules), how it
reaches one process (a read-only file or a variable), and SSH forwarding through a proxy socket per
mount — to the host's agent or to a private agent holding key files."""

from __future__ import annotations

import os
import shutil
import socket
import stat
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from bake.graph.ops import Mount
from bake.model import SecretEntry, SSHEntry
from bake.worker.errors import SecretError, SSHError
from bake.worker.secrets import Secrets
from bake.worker.sshagents import SSHAgents


@pytest.fixture
def secrets(tmp_path: Path) -> Iterator[Secrets]:
    (tmp_path / "token.txt").write_text("from-file")
    (tmp_path / "npmrc").write_text("from-id-file")
    entries = [SecretEntry("token", src="token.txt"), SecretEntry("aws", env="AWS_KEY"),
               SecretEntry("npmrc"), SecretEntry("GITHUB_TOKEN"), SecretEntry("unset", env="NOT_SET"),
               SecretEntry("missing", src="nowhere")]
    s = Secrets(entries, {"AWS_KEY": "from-env", "GITHUB_TOKEN": "gh", "npmrc": ""}, str(tmp_path),
                scratch=str(tmp_path))
    yield s
    s.close()


def test_a_secrets_value_follows_buildx_rules(secrets: Secrets) -> None:
    assert secrets.value("token") == b"from-file"  # src= a file, relative to the context
    assert secrets.value("aws") == b"from-env"  # env= a variable
    assert secrets.value("GITHUB_TOKEN") == b"gh"  # an id alone: the variable of that name first
    assert secrets.value("npmrc") == b""  # … even when empty, before a file of that name
    assert secrets.value("unset") is None and secrets.value("missing") is None
    assert secrets.value("not-declared") is None


def test_a_secret_file_is_read_only_private_and_gone_after_close(secrets: Secrets) -> None:
    mount, env = secrets.realize(Mount("/run/secrets/token", type="secret", secret_id="token"))
    assert env == {} and mount is not None and mount.readonly and mount.destination == "/run/secrets/token"
    assert Path(mount.source).read_text() == "from-file"
    assert stat.S_IMODE(os.stat(mount.source).st_mode) == 0o400
    assert stat.S_IMODE(os.stat(secrets.dir).st_mode) == 0o700
    moded, _ = secrets.realize(Mount("/s", type="secret", secret_id="aws", mode=0o440, uid=1000, gid=1000))
    assert moded is not None and stat.S_IMODE(os.stat(moded.source).st_mode) == 0o440
    if os.geteuid() == 0:
        assert (os.stat(moded.source).st_uid, os.stat(moded.source).st_gid) == (1000, 1000)
    secrets.close()
    assert not os.path.exists(mount.source)


def test_a_secret_as_a_variable_and_as_both(secrets: Secrets) -> None:
    assert secrets.realize(Mount("", type="secret", secret_id="aws", env="KEY")) == (None, {"KEY": "from-env"})
    mount, env = secrets.realize(Mount("/s", type="secret", secret_id="aws", env="KEY"))
    assert env == {"KEY": "from-env"} and mount is not None and Path(mount.source).read_text() == "from-env"


def test_a_missing_secret_fails_only_when_required(secrets: Secrets) -> None:
    assert secrets.realize(Mount("/s", type="secret", secret_id="missing")) == (None, {})
    with pytest.raises(SecretError, match="secret missing: not found"):
        secrets.realize(Mount("/s", type="secret", secret_id="missing", required=True))


# --- ssh ---------------------------------------------------------------------------------------


class EchoAgent:
    """A unix socket server answering each message with ``agent:`` and the message."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.server.bind(path)
        self.server.listen(4)
        self.connections = 0
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.server.accept()
            except OSError:
                return
            self.connections += 1
            with conn:
                while data := conn.recv(1024):
                    conn.sendall(b"agent:" + data)

    def close(self) -> None:
        self.server.close()


def ask(path: str, message: bytes) -> bytes:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.connect(path)
        s.sendall(message)
        s.shutdown(socket.SHUT_WR)
        out = b""
        while data := s.recv(1024):
            out += data
        return out


@pytest.fixture
def agent(tmp_path: Path) -> Iterator[EchoAgent]:
    a = EchoAgent(str(tmp_path / "agent.sock"))
    yield a
    a.close()


def test_default_forwards_the_hosts_agent_through_a_proxy_socket(agent: EchoAgent, tmp_path: Path) -> None:
    ssh = SSHAgents([SSHEntry("default")], {"SSH_AUTH_SOCK": agent.path}, str(tmp_path))
    try:
        mount, env = ssh.realize(Mount("/run/buildkit/ssh_agent.0", type="ssh", secret_id="default"))
        assert mount is not None and mount.source != agent.path  # the container never sees the host's socket
        assert env == {"SSH_AUTH_SOCK": "/run/buildkit/ssh_agent.0"}
        assert stat.S_IMODE(os.stat(mount.source).st_mode) == 0o600
        assert ask(mount.source, b"hello") == b"agent:hello"
        assert ask(mount.source, b"again") == b"agent:again"
        assert agent.connections == 2
    finally:
        ssh.close()
    assert not os.path.exists(ssh.dir)


def test_a_named_socket_path_is_used_as_the_agent(agent: EchoAgent, tmp_path: Path) -> None:
    ssh = SSHAgents([SSHEntry("work", (os.path.basename(agent.path),))], {}, str(tmp_path))
    try:
        assert ssh.agent("work") == agent.path  # relative to the context
        mount, _ = ssh.realize(Mount("/ssh", type="ssh", secret_id="work", mode=0o660))
        assert mount is not None and stat.S_IMODE(os.stat(mount.source).st_mode) == 0o660
        assert ask(mount.source, b"x") == b"agent:x"
    finally:
        ssh.close()


def test_a_proxy_whose_agent_is_gone_closes_the_connection(agent: EchoAgent, tmp_path: Path) -> None:
    ssh = SSHAgents([SSHEntry("default")], {"SSH_AUTH_SOCK": agent.path}, str(tmp_path))
    try:
        mount, _ = ssh.realize(Mount("/ssh", type="ssh", secret_id="default"))
        agent.close()
        os.unlink(agent.path)
        assert mount is not None
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.connect(mount.source)  # accepted, then closed: the agent cannot be reached
            assert s.recv(1024) == b""
    finally:
        ssh.close()


def test_ssh_refusals(agent: EchoAgent, tmp_path: Path) -> None:
    (tmp_path / "id_key").write_text("a key")
    ssh = SSHAgents([SSHEntry("default"), SSHEntry("mixed", (agent.path, "id_key"))], {}, str(tmp_path))
    try:
        with pytest.raises(SSHError, match="SSH_AUTH_SOCK is not set"):
            ssh.agent("default")
        with pytest.raises(SSHError, match="either one agent socket or key files"):
            ssh.agent("mixed")
        with pytest.raises(SSHError, match="ssh other: not provided"):
            ssh.realize(Mount("/ssh", type="ssh", secret_id="other", required=True))
        assert ssh.realize(Mount("/ssh", type="ssh", secret_id="other")) == (None, {})
    finally:
        ssh.close()


@pytest.mark.skipif(shutil.which("ssh-agent") is None or shutil.which("ssh-keygen") is None,
                    reason="needs openssh-client")
def test_key_files_are_loaded_into_a_private_agent(tmp_path: Path) -> None:
    key = tmp_path / "id_ed25519"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "bake-test", "-f", str(key)], check=True)
    (tmp_path / "broken").write_text("not a key\n")
    os.chmod(tmp_path / "broken", 0o600)
    ssh = SSHAgents([SSHEntry("deploy", ("id_ed25519",)), SSHEntry("bad", ("broken",))], {}, str(tmp_path))
    try:
        mount, _ = ssh.realize(Mount("/ssh", type="ssh", secret_id="deploy"))
        assert mount is not None
        listed = subprocess.run(["ssh-add", "-l"], env={"SSH_AUTH_SOCK": mount.source}, capture_output=True, text=True)
        assert "bake-test" in listed.stdout  # the key, reached through the proxy
        assert ssh.agent("deploy") == ssh.agent("deploy")  # one agent per id
        with pytest.raises(SSHError, match="ssh bad: cannot load key"):
            ssh.agent("bad")
    finally:
        ssh.close()
