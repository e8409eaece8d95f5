"""Which platforms this host can run processes for: natively, or through QEMU user emulation.

A process for another architecture runs when the kernel has an enabled binfmt_misc handler for
it, as Debian's ``qemu-user-static`` registers (with the ``F`` flag, so the interpreter is opened
on the host and works inside any container). Steps that run nothing (COPY-only stages,
``--platform=$BUILDPLATFORM`` builders) never ask.
"""

from __future__ import annotations

import os
import platform as _platform

from bake.worker.errors import PlatformError

BINFMT_DIR = "/proc/sys/fs/binfmt_misc"

# GOARCH (OCI) → the machine name QEMU's binfmt handlers are registered under.
QEMU_ARCH = {
    "amd64": "x86_64", "386": "i386", "arm64": "aarch64", "arm": "arm", "ppc64le": "ppc64le", "ppc64": "ppc64",
    "s390x": "s390x", "riscv64": "riscv64", "mips64le": "mips64el", "mips64": "mips64", "loong64": "loongarch64",
}
_MACHINE = {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm", "i686": "386", "ppc64le": "ppc64le",
            "s390x": "s390x", "riscv64": "riscv64"}
_RUNS_ALSO = {"amd64": ("386",), "arm64": ("arm",)}  # what the CPU executes without emulation


def host_arch() -> str:
    machine = _platform.machine()
    return _MACHINE.get(machine, machine)


def emulator(platform: str, binfmt_dir: str = BINFMT_DIR, host: str | None = None) -> str | None:
    """None when ``platform`` (``os/arch[/variant]``) runs natively; else the registered QEMU
    interpreter's path. Raises PlatformError naming the platform and how to enable it."""
    os_name, _, rest = platform.partition("/")
    arch = rest.partition("/")[0]
    host = host or host_arch()
    if os_name != "linux":
        raise PlatformError(f"cannot run a process for {platform}: only linux containers are supported", platform)
    if not arch or arch == host or arch in _RUNS_ALSO.get(host, ()):
        return None
    qemu = QEMU_ARCH.get(arch)
    if qemu is None:
        raise PlatformError(f"cannot run a process for {platform}: unknown architecture {arch!r}", platform)
    handler = _handler(os.path.join(binfmt_dir, f"qemu-{qemu}"))
    hint = ("install QEMU user emulation (apt-get install qemu-user-static binfmt-support) "
            "and make sure binfmt_misc is mounted (mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc)")
    if handler is None:
        raise PlatformError(f"RUN for {platform} needs emulation on this {host} host, and no binfmt_misc handler "
                            f"for {qemu} is registered: {hint}", platform)
    if not handler.get("enabled"):
        raise PlatformError(f"RUN for {platform}: the binfmt_misc handler qemu-{qemu} is disabled "
                            f"(echo 1 > {binfmt_dir}/qemu-{qemu})", platform)
    if "F" not in handler.get("flags", ""):
        raise PlatformError(f"RUN for {platform}: the binfmt_misc handler qemu-{qemu} lacks the F (fix-binary) flag, "
                            "so its interpreter cannot be found inside a container; re-register it with F", platform)
    return handler.get("interpreter", "")


def _handler(path: str) -> dict[str, str] | None:
    """A binfmt_misc entry: ``enabled`` (present only when enabled), ``interpreter``, ``flags``."""
    try:
        with open(path) as f:
            lines = f.read().splitlines()
    except OSError:
        return None
    out: dict[str, str] = {}
    for line in lines:
        if line == "enabled":
            out["enabled"] = "1"
        key, _, value = line.partition(" ")
        if key in ("interpreter", "flags:"):
            out[key.rstrip(":")] = value.strip()
    return out
