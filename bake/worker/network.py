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
import weakref
from collections.abc import Callable

from bake.worker import mounts
from bake.worker.errors import NetworkError

NAMESERVER = "10.0.2.3"  # slirp4netns's DNS forwarder, which asks the host's resolvers
_SLIRP_MTU = "65520"


class BuildNetwork:
    """The namespace, made on first use by ``path()``; ``close()`` takes it down (so does losing
    the last reference: a forgotten close never leaves a slirp4netns behind)."""

    def __init__(self, directory: str) -> None:
        self.directory = directory
        self._path: str | None = None
        self._teardown: Callable[[], object] | None = None
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
        if not os.access("/dev/net/tun", os.R_OK | os.W_OK):
            raise NetworkError("RUN steps get a network of their own through slirp4netns, which needs /dev/net/tun: "
                               "it is missing or not usable by this user (as root: chmod 0666 /dev/net/tun, "
                               "Debian's default); or build with network=none")
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
            slirp_proc = subprocess.Popen(
                [slirp, "--configure", f"--mtu={_SLIRP_MTU}", "--disable-host-loopback", "--netns-type=path",
                 f"--ready-fd={ready_w}", f"--exit-fd={exit_r}", path, "tap0"],
                pass_fds=(ready_w, exit_r), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=log)
        except OSError as e:
            os.close(ready_r)
            os.close(exit_w)
            _unmount(path)
            raise NetworkError(f"cannot start slirp4netns: {e}") from e
        finally:
            for fd in (ready_w, exit_r, log):
                os.close(fd)
        teardown = weakref.finalize(self, _stop, slirp_proc, exit_w, path)
        with os.fdopen(ready_r, "rb") as ready:
            ok = ready.read(1) == b"1"  # slirp4netns writes "1" once configured; EOF if it died
        if not ok:
            teardown()
            with open(log_path, errors="replace") as f:
                err = f.read().strip()
            raise NetworkError(f"slirp4netns could not configure the build's network: {err}")
        self._teardown = teardown
        return path

    def close(self) -> None:
        with self._lock:
            if self._teardown is not None:
                self._teardown()
                self._teardown = None
            self._path = None


def _stop(slirp: subprocess.Popen[bytes], exit_w: int, path: str) -> None:
    os.close(exit_w)  # slirp4netns exits when its exit fd closes
    _unmount(path)
    # Its exit takes ~25 ms (the kernel takes its tap device down), which the end of every build
    # with a RUN waited for: it is reaped beside the build instead.
    threading.Thread(target=_reap, args=(slirp,), name="slirp4netns reaper", daemon=True).start()


def _reap(slirp: subprocess.Popen[bytes]) -> None:
    try:
        slirp.wait(timeout=5)
    except subprocess.TimeoutExpired:
        slirp.kill()
        slirp.wait()


def _unmount(path: str) -> None:
    with contextlib.suppress(OSError):
        mounts.unmount(path, detach=True)  # slirp4netns may still hold the namespace through this file
    with contextlib.suppress(OSError):
        os.unlink(path)
