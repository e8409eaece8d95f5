"""Run a process in a container with an OCI runtime (runc by default) from a generated config.json.

The container gets its own pid, ipc, uts and mount namespaces (and a network namespace with only
``lo`` for ``network=none``), BuildKit's default capability set, no_new_privs, Docker's masked
and read-only paths, a hostname, ``/etc/hosts`` (with extra hosts) and ``/etc/resolv.conf``.
Mount points the runtime has to create in the rootfs (and their new parent directories) are
removed after the run and reported, so no layer carries them.
"""

from __future__ import annotations

import contextlib
import json
import os
import posixpath
import shutil
import stat
import subprocess
import tempfile
import uuid

import anyio

from bake.content.dirfd import opened
from bake.worker.errors import ExecError as ExecError  # the contract's types, beside their runtime
from bake.worker.errors import UnsafePathError
from bake.worker.execution import Mount as Mount
from bake.worker.execution import Output
from bake.worker.execution import Process as Process
from bake.worker.execution import Result as Result
from bake.worker.inroot import Root
from bake.worker.network import NAMESERVER, BuildNetwork
from bake.worker.platforms import BINFMT_DIR, emulator
from bake.worker.seccomp import profile
from bake.worker.userns import in_user_namespace
from bake.worker.users import resolve_user

CAPABILITIES = (
    "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD", "CAP_NET_RAW", "CAP_SETGID",
    "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE",
)
MASKED = ("/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats", "/proc/timer_list",
          "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi", "/sys/firmware", "/sys/devices/virtual/powercap")
ALL_CAPABILITIES = (  # by number, as the kernel counts them; --security=insecure gets those we hold
    "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL", "CAP_SETGID",
    "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE", "CAP_NET_BIND_SERVICE", "CAP_NET_BROADCAST", "CAP_NET_ADMIN",
    "CAP_NET_RAW", "CAP_IPC_LOCK", "CAP_IPC_OWNER", "CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_CHROOT", "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT", "CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE", "CAP_SYS_RESOURCE", "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE", "CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL", "CAP_SETFCAP",
    "CAP_MAC_OVERRIDE", "CAP_MAC_ADMIN", "CAP_SYSLOG", "CAP_WAKE_ALARM", "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ",
    "CAP_PERFMON", "CAP_BPF", "CAP_CHECKPOINT_RESTORE",
)
READONLY = ("/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger")
SYSTEM_MOUNTS = ("/proc", "/dev", "/dev/pts", "/dev/shm", "/dev/mqueue", "/sys")
# Mount points the runtime makes that BuildKit's stub cleaner leaves (it removes only /etc/hosts,
# /etc/resolv.conf and the step's own mounts): on an image without them, the first RUN's layer
# holds /dev, /proc and /sys (recorded from BuildKit v0.32.2 on busybox)
KEPT_MOUNT_POINTS = frozenset({"/dev", "/proc", "/sys"})
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


class RuncExecutor:
    """Runs processes with ``runc`` (or a compatible runtime) and a throwaway bundle per run: the
    ``Executor`` of real builds."""

    def __init__(self, state_dir: str, runtime: str = "runc", binfmt_dir: str = BINFMT_DIR,
                 allow: tuple[str, ...] = (), bundles: str | None = None) -> None:
        self.state_dir = state_dir
        self.bundles = bundles or state_dir  # a build's own directory: recovery finds its containers by it
        self.runtime = runtime
        self.binfmt_dir = binfmt_dir
        self.allow = frozenset(allow)  # granted entitlements (buildx's --allow)
        self.network = BuildNetwork(self.bundles)
        if shutil.which(runtime) is None:
            raise ExecError(f"{runtime} is not installed (apt-get install {runtime})")

    async def run(self, rootfs: str, process: Process, mounts: tuple[Mount, ...] = (), output: Output | None = None) -> Result:
        if process.security == "insecure" and "security.insecure" not in self.allow:
            raise ExecError("security.insecure is not allowed: grant it with --allow security.insecure "
                            "(or the target's entitlements)")
        if process.network == "host" and "network.host" not in self.allow:  # RUN --network=host asks for it
            raise ExecError("network.host is not allowed: grant it with --allow network.host "
                            "(bake grants it to targets with network = \"host\")")
        if process.platform:
            emulator(process.platform, self.binfmt_dir)  # refuses early, naming how to enable emulation
        uid, gid, groups = resolve_user(rootfs, process.user)
        with Root(rootfs) as root:
            try:
                os.close(root.makedirs(process.cwd)[0])  # WORKDIR exists, as in BuildKit
            except (UnsafePathError, OSError) as e:
                raise ExecError(f"cannot create the working directory {process.cwd}: {e}") from e
            return await self._run(root, process, mounts, output, uid, gid, groups)

    async def _run(self, root: Root, process: Process, mounts: tuple[Mount, ...], output: Output | None,
                   uid: int, gid: int, groups: tuple[int, ...]) -> Result:
        rootfs = root.path
        bundle = tempfile.mkdtemp(prefix="bundle-", dir=self.bundles)
        try:
            netns = None
            if process.network not in ("host", "none"):
                netns = await anyio.to_thread.run_sync(self.network.path)
            etc = _etc_files(bundle, process, netns is not None)
            all_mounts = (*mounts, *etc)
            destinations = (*SYSTEM_MOUNTS, *(m.destination for m in all_mounts))
            prefixes = {p for d in destinations for p in _prefixes(d)}
            before = {d for d in prefixes if root.lstat(d) is not None}
            times = _dir_times(root, before)
            config = runtime_config(rootfs, process, all_mounts, uid, gid, groups, netns)
            with open(os.path.join(bundle, "config.json"), "w") as f:
                json.dump(config, f)
            cid = "bake-" + uuid.uuid4().hex[:12]
            cmd = [self.runtime, "--root", os.path.join(self.state_dir, "runtime"), "run", "--bundle", bundle, cid]
            try:
                async with await anyio.open_process(cmd, stdin=None) as proc:
                    async with anyio.create_task_group() as tg:
                        for stream in (proc.stdout, proc.stderr):
                            if stream is not None:
                                tg.start_soon(_pump, stream, output)
                    code = await proc.wait()
            except BaseException:
                self._destroy(cid)  # cancelled (Ctrl-C, another target failed): no container outlives the build
                raise
            stubs = tuple(sorted(d.lstrip("/") for d in prefixes
                                 if d not in before and d not in KEPT_MOUNT_POINTS and root.lstat(d) is not None))
            _remove_stubs(root, stubs)
            _restore_times(root, times, {"/" + posixpath.dirname(s) for s in stubs})
            return Result(code, stubs)
        finally:
            shutil.rmtree(bundle, ignore_errors=True)


    def close(self) -> None:
        """Take down what the build's steps shared (its network)."""
        self.network.close()

    def _destroy(self, cid: str) -> None:
        """Kill and delete a container whose ``runc run`` we abandoned (killing runc alone would
        leave the container's processes running)."""
        root = os.path.join(self.state_dir, "runtime")
        for args in (["kill", cid, "KILL"], ["delete", "--force", cid]):
            subprocess.run([self.runtime, "--root", root, *args], capture_output=True, timeout=30)


def _prefixes(path: str) -> list[str]:
    parts = [p for p in path.split("/") if p]
    return ["/" + "/".join(parts[: i + 1]) for i in range(len(parts))]


def _remove_stubs(root: Root, stubs: tuple[str, ...]) -> None:
    """Remove the empty files and directories the runtime created only to mount onto (deepest
    first), so they never reach a layer; anything the process put there is left alone."""
    for rel in sorted(stubs, key=lambda s: -s.count("/")):
        try:
            dirfd, name = root.parent(rel)  # never follow a link the process planted out of the rootfs
        except OSError:
            continue
        with opened(dirfd):
            try:
                st = os.stat(name, dir_fd=dirfd, follow_symlinks=False)
                if stat.S_ISDIR(st.st_mode):
                    os.rmdir(name, dir_fd=dirfd)
                elif stat.S_ISREG(st.st_mode) and st.st_size == 0:
                    os.unlink(name, dir_fd=dirfd)
            except OSError:
                continue


def _dir_times(root: Root, paths: set[str]) -> dict[str, tuple[int, int]]:
    out = {}
    for d in paths:
        st = root.lstat(d)
        if st is not None and stat.S_ISDIR(st.st_mode):
            out[d] = (st.st_atime_ns, st.st_mtime_ns)
    return out


def _restore_times(root: Root, times: dict[str, tuple[int, int]], parents: set[str]) -> None:
    """Give the directories that held removed stubs their times back, so a directory overlay
    copied up only for a mount point matches the one below and stays out of the layer."""
    for d in parents:
        if d in times:
            with contextlib.suppress(OSError):
                dirfd, name = root.parent(d)
                with opened(dirfd):
                    os.utime(name or ".", ns=times[d], dir_fd=dirfd, follow_symlinks=False)


async def _pump(stream: anyio.abc.ByteReceiveStream, output: Output | None) -> None:
    async for chunk in stream:
        if output is not None:
            output(chunk)


def runtime_config(rootfs: str, p: Process, mounts: tuple[Mount, ...], uid: int, gid: int, groups: tuple[int, ...],
                   netns: str | None = None) -> dict[str, object]:
    """The OCI config of one RUN. ``netns`` is the build's shared namespace (default network);
    ``network=none`` gets a fresh one with only ``lo``, ``network=host`` the host's."""
    env = list(p.env)
    if not any(e.startswith("PATH=") for e in env):
        env.append(f"PATH={DEFAULT_PATH}")
    namespaces = [{"type": t} for t in ("pid", "ipc", "uts", "mount")]
    if p.network == "none":
        namespaces.append({"type": "network"})
    elif p.network != "host":
        namespaces.append({"type": "network", "path": netns} if netns else {"type": "network"})
    insecure = p.security == "insecure"
    caps = _bounding_caps() if insecure else list(CAPABILITIES)
    linux: dict[str, object] = {
        "namespaces": namespaces,
        "maskedPaths": [] if insecure else list(MASKED),
        "readonlyPaths": [] if insecure else list(READONLY),
    }
    if not insecure:
        linux["seccomp"] = profile(caps)
    shm = f"size={p.shm_size}" if p.shm_size else "size=65536k"
    return {
        "ociVersion": "1.0.2",
        "process": {
            "terminal": False,
            "user": {"uid": uid, "gid": gid, "additionalGids": list(groups)},
            "args": list(p.args),
            "env": env,
            "cwd": p.cwd or "/",
            "capabilities": {"bounding": caps, "effective": caps, "permitted": caps},
            "rlimits": _rlimits(p.ulimits),
            "noNewPrivileges": True,
        },
        "root": {"path": os.path.abspath(rootfs), "readonly": False},
        "hostname": p.hostname,
        "mounts": [
            {"destination": "/proc", "type": "proc", "source": "proc", "options": ["nosuid", "noexec", "nodev"]},
            {"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
            {"destination": "/dev/pts", "type": "devpts", "source": "devpts",
             "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]},
            {"destination": "/dev/shm", "type": "tmpfs", "source": "shm", "options": ["nosuid", "noexec", "nodev", "mode=1777", shm]},
            {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue", "options": ["nosuid", "noexec", "nodev"]},
            _sysfs(insecure, p.network == "host" and in_user_namespace()),
            *(_mount(m) for m in mounts),
        ],
        "linux": linux,
    }


def _sysfs(insecure: bool, host_network_in_userns: bool) -> dict[str, object]:
    """/sys: a sysfs of the container's own network namespace; in a user namespace sharing the
    host's network, sysfs may not be mounted (the host owns that namespace), so the host's is
    bound read-only instead, as rootless runtimes do."""
    if host_network_in_userns:
        return {"destination": "/sys", "type": "bind", "source": "/sys", "options": ["rbind", "nosuid", "noexec", "nodev", "ro"]}
    return {"destination": "/sys", "type": "sysfs", "source": "sysfs",
            "options": ["nosuid", "noexec", "nodev", "rw" if insecure else "ro"]}


def _bounding_caps() -> list[str]:
    """Every capability this process may hand on (its bounding set), as a privileged container gets."""
    try:
        with open("/proc/self/status") as f:
            mask = int(next(line.split()[1] for line in f if line.startswith("CapBnd:")), 16)
    except (OSError, StopIteration, ValueError):
        return list(CAPABILITIES)
    return [name for bit, name in enumerate(ALL_CAPABILITIES) if mask >> bit & 1]


def _rlimits(ulimits: tuple[str, ...]) -> list[dict[str, object]]:
    """buildx's ``name=soft[:hard]`` ulimits (-1: unlimited), plus BuildKit's open-files default."""
    limits: dict[str, dict[str, object]] = {"NOFILE": {"type": "RLIMIT_NOFILE", "hard": _nofile(), "soft": _nofile()}}
    for item in ulimits:
        name, _, values = item.partition("=")
        soft_text, _, hard_text = values.partition(":")
        try:
            soft = int(soft_text)
            hard = int(hard_text) if hard_text else soft
        except ValueError:
            raise ExecError(f"invalid ulimit {item!r}: want name=soft[:hard]") from None
        unlimited = 2**64 - 1
        limits[name.upper()] = {"type": f"RLIMIT_{name.upper()}", "soft": unlimited if soft < 0 else soft,
                                "hard": unlimited if hard < 0 else hard}
    return list(limits.values())


def _nofile() -> int:
    """BuildKit's 1048576 open files, or less where this process may not raise its own limit that far."""
    import resource

    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    return 1048576 if hard == resource.RLIM_INFINITY else min(1048576, hard)


def _mount(m: Mount) -> dict[str, object]:
    if m.type == "tmpfs":
        opts = ["nosuid", "nodev", "mode=1777"] + ([f"size={m.size}"] if m.size else [])
        return {"destination": m.destination, "type": "tmpfs", "source": "tmpfs", "options": opts}
    return {"destination": m.destination, "type": "bind", "source": m.source,
            "options": ["rbind", "ro" if m.readonly else "rw"]}


def _etc_files(bundle: str, p: Process, slirp: bool) -> tuple[Mount, ...]:
    hosts = os.path.join(bundle, "hosts")
    with open(hosts, "w") as f:
        f.write(f"127.0.0.1\tlocalhost {p.hostname}\n::1\tlocalhost ip6-localhost ip6-loopback\n")
        for entry in p.extra_hosts:
            name, _, ip = entry.partition("=")
            f.write(f"{ip}\t{name}\n")
    resolv = os.path.join(bundle, "resolv.conf")
    with open(resolv, "w") as f:
        f.write(resolv_conf(_read("/etc/resolv.conf"), slirp))
    return (Mount("/etc/hosts", hosts, readonly=True), Mount("/etc/resolv.conf", resolv, readonly=True))


def resolv_conf(host: str, slirp: bool) -> str:
    """The container's resolv.conf: the host's, where a nameserver the container cannot reach (the
    host's loopback, from its own namespace) becomes slirp4netns's forwarder, or Google's as Docker does."""
    lines, servers = [], 0
    for line in host.splitlines():
        fields = line.split()
        if fields[:1] == ["nameserver"] and len(fields) > 1:
            if fields[1].startswith("127.") or fields[1] == "::1":
                continue
            servers += 1
        lines.append(line)
    if slirp:  # everything goes through slirp's forwarder, which asks the host's resolvers
        lines = [line for line in lines if line.split()[:1] != ["nameserver"]]
        lines.append(f"nameserver {NAMESERVER}")
    elif not servers:
        lines += ["nameserver 8.8.8.8", "nameserver 8.8.4.4"]
    return "\n".join(lines) + "\n"


def _read(path: str) -> str:
    try:
        with open(path, errors="replace") as f:
            return f.read()
    except OSError:
        return ""
