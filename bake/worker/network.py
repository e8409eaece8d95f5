"""The network a build's RUN steps share: a namespace of its own with outbound access only.

One network namespace per build (made on the first RUN that needs it, kept as a bind-mounted
file in the build's scratch directory) joined by every RUN with the default network. Its only
way out is ``slirp4netns``: user-mode TCP/UDP through the host's sockets, DNS at 10.0.2.3, and
``--disable-host-loopback``, so a RUN cannot reach services listening on the host's 127.0.0.1.
slirp4netns is started with an exit fd: when bake dies, it exits too; a killed build's namespace
file is unmounted by the next build's recovery (it lies under the build's scratch directory).
``network=none`` gets a fresh namespace with only ``lo``; ``network=host`` (an entitlement)
shares the host's.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import threading

from bake.errors import BakeError

NAMESERVER = "10.0.2.3"  # slirp4netns's DNS forwarder, which asks the host's resolvers
_SLIRP_MTU = "65520"


class NetworkError(BakeError):
    """The build's network namespace could not be set up."""


class BuildNetwork:
    """The namespace, made on first use by ``path()``; ``close()`` takes it down."""

    def __init__(self, directory: str) -> None:
        self.directory = directory
        self._path: str | None = None
        self._slirp: subprocess.Popen[bytes] | None = None
        self._exit_w: int | None = None
        self._lock = threading.Lock()

    def path(self) -> str:
        """The namespace file a runtime config's ``network`` namespace points at."""
        with self._lock:
            if self._path is None:
                self._path = self._create()
            return self._path

    def _create(self) -> str:
        slirp = shutil.which("slirp4netns")
        if slirp is None:
            raise NetworkError("RUN steps get a network of their own through slirp4netns, which is not installed "
                               "(apt-get install slirp4netns); or build with network=none")
        path = os.path.join(self.directory, "netns")
        open(path, "w").close()
        proc = subprocess.run(["unshare", f"--net={path}", "true"], capture_output=True, text=True)
        if proc.returncode != 0:
            os.unlink(path)
            raise NetworkError(f"cannot create the build's network namespace: {proc.stderr.strip()}")
        log_path = os.path.join(self.directory, "slirp4netns.log")
        log = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
        ready_r, ready_w = os.pipe()
        exit_r, exit_w = os.pipe()
        try:
            self._slirp = subprocess.Popen(
                [slirp, "--configure", f"--mtu={_SLIRP_MTU}", "--disable-host-loopback", "--netns-type=path",
                 f"--ready-fd={ready_w}", f"--exit-fd={exit_r}", path, "tap0"],
                pass_fds=(ready_w, exit_r), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=log)
            os.close(ready_w)
            os.close(exit_r)
            ready_w = exit_r = -1
            with os.fdopen(ready_r, "rb") as ready:
                ok = ready.read(1) == b"1"
            if not ok:
                with open(log_path, errors="replace") as f:
                    err = f.read().strip()
                raise NetworkError(f"slirp4netns could not configure the build's network: {err}")
        except BaseException:
            for fd in (ready_w, exit_r, exit_w, log):
                if fd >= 0:
                    with contextlib.suppress(OSError):
                        os.close(fd)
            self._exit_w = None
            self._stop(path)
            raise
        os.close(log)
        self._exit_w = exit_w
        return path

    def close(self) -> None:
        with self._lock:
            if self._path is not None:
                self._stop(self._path)
                self._path = None

    def _stop(self, path: str) -> None:
        if self._exit_w is not None:
            os.close(self._exit_w)  # slirp4netns exits when its exit fd closes
            self._exit_w = None
        if self._slirp is not None:
            try:
                self._slirp.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self._slirp.kill()
                self._slirp.wait()
            self._slirp = None
        subprocess.run(["umount", path], capture_output=True)
        with contextlib.suppress(OSError):
            os.unlink(path)
