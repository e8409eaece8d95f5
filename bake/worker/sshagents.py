"""SSH agent forwarding for ``RUN --mount=type=ssh``, from bake's ``ssh`` entries.

``default`` (no paths) is the agent at ``$SSH_AUTH_SOCK``; ``id=path,…`` names either agent
sockets or private key files, which are loaded into a private ``ssh-agent`` started for the build.
Containers never see a host socket: each mount gets its own proxy socket, owned and moded as the
mount asks (BuildKit: uid 0, gid 0, mode 0600), that forwards connections to the agent. The keys
never touch a layer; only the agent protocol crosses the socket.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import stat
import subprocess
import tempfile
import threading
from collections.abc import Mapping, Sequence

from bake.graph.ops import Mount as GraphMount
from bake.model import SSHEntry
from bake.worker.errors import SSHError
from bake.worker.execution import Mount


class SSHAgents:
    def __init__(self, entries: Sequence[SSHEntry], env: Mapping[str, str], cwd: str = ".") -> None:
        self.entries = {e.id: e for e in entries}
        self.env = env
        self.cwd = cwd
        self.dir = tempfile.mkdtemp(prefix="bake-ssh-")
        os.chmod(self.dir, 0o700)
        self._agents: dict[str, str] = {}  # id → agent socket
        self._processes: list[subprocess.Popen[bytes]] = []
        self._proxies: list[_Proxy] = []

    def agent(self, ssh_id: str) -> str | None:
        """The host agent socket serving ``ssh_id``, starting a private agent for key files."""
        if ssh_id in self._agents:
            return self._agents[ssh_id]
        entry = self.entries.get(ssh_id)
        if entry is None:
            return None
        paths = [p if os.path.isabs(p) else os.path.join(self.cwd, p) for p in entry.paths]
        if not paths:
            sock = self.env.get("SSH_AUTH_SOCK")
            if not sock:
                raise SSHError(f"ssh {ssh_id}: no paths given and SSH_AUTH_SOCK is not set")
            paths = [sock]
        if any(_is_socket(p) for p in paths) and len(paths) > 1:
            raise SSHError(f"ssh {ssh_id}: give either one agent socket or key files, not both")
        self._agents[ssh_id] = paths[0] if _is_socket(paths[0]) else self._start_agent(ssh_id, paths)
        return self._agents[ssh_id]

    def realize(self, mount: GraphMount) -> tuple[Mount | None, dict[str, str]]:
        """A proxy socket mounted at the mount's target, and SSH_AUTH_SOCK pointing at it."""
        agent = self.agent(mount.secret_id)
        if agent is None:
            if mount.required:
                raise SSHError(f"ssh {mount.secret_id}: not provided (add it to the target's ssh list)")
            return None, {}
        path = os.path.join(self.dir, f"proxy-{len(self._proxies)}.sock")
        self._proxies.append(_Proxy(path, agent))
        os.chmod(path, mount.mode if mount.mode is not None else 0o600)
        if os.geteuid() == 0:
            os.chown(path, mount.uid or 0, mount.gid or 0)
        return Mount(mount.target, path), {"SSH_AUTH_SOCK": mount.target}

    def _start_agent(self, ssh_id: str, keys: list[str]) -> str:
        if shutil.which("ssh-agent") is None:
            raise SSHError(f"ssh {ssh_id}: key files need ssh-agent (apt-get install openssh-client)")
        sock = os.path.join(self.dir, f"agent-{len(self._processes)}.sock")
        proc = subprocess.Popen(["ssh-agent", "-D", "-a", sock], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self._processes.append(proc)
        for _ in range(200):
            if _accepts(sock):  # bound is not enough: ssh-add is refused until the agent listens
                break
            threading.Event().wait(0.01)
        for key in keys:
            added = subprocess.run(["ssh-add", "-q", key], env={"SSH_AUTH_SOCK": sock, "SSH_ASKPASS_REQUIRE": "never"},
                                   stdin=subprocess.DEVNULL, capture_output=True, text=True)
            if added.returncode != 0:
                raise SSHError(f"ssh {ssh_id}: cannot load key {key}: {added.stderr.strip() or 'ssh-add failed'}")
        return sock

    def close(self) -> None:
        for proxy in self._proxies:
            proxy.close()
        for proc in self._processes:
            proc.terminate()
            proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)


def _is_socket(path: str) -> bool:
    try:
        return stat.S_ISSOCK(os.stat(path).st_mode)
    except OSError:
        return False


def _accepts(path: str) -> bool:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        try:
            s.connect(path)
        except OSError:
            return False
    return True


class _Proxy:
    """A unix socket whose every connection is spliced to a connection to ``target``."""

    def __init__(self, path: str, target: str) -> None:
        self.target = target
        self.server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.server.bind(path)
        self.server.listen(16)
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.server.accept()
            except OSError:  # closed
                return
            upstream = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                upstream.connect(self.target)
            except OSError:
                client.close()
                upstream.close()
                continue
            threading.Thread(target=_splice, args=(client, upstream), daemon=True).start()

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.server.shutdown(socket.SHUT_RDWR)  # wakes the accepting thread
        self.server.close()


def _splice(a: socket.socket, b: socket.socket) -> None:
    back = threading.Thread(target=_pipe, args=(b, a), daemon=True)
    back.start()
    _pipe(a, b)
    back.join()
    a.close()
    b.close()


def _pipe(src: socket.socket, dst: socket.socket) -> None:
    try:
        with contextlib.suppress(OSError):  # either side hanging up ends this direction
            while data := src.recv(65536):
                dst.sendall(data)
    finally:
        with contextlib.suppress(OSError):
            dst.shutdown(socket.SHUT_WR)
