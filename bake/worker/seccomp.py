"""The seccomp profile every sandboxed RUN gets (lifted only by ``security=insecure``).

Built as Docker's and BuildKit's default is meant to work: an allowlist — the system calls an
unprivileged container needs, taken from the distribution's maintained containers profile
(``/usr/share/containers/seccomp.json``, Debian's ``golang-github-containers-common``) with its
capability and architecture conditions applied for our capability set — and, on top, the calls
that would let a build leave its sandbox refused with ``EPERM`` whatever that file says: new
namespaces (``unshare``, ``setns``, ``clone`` with a namespace flag), mounts, the kernel keyring,
BPF, perf, modules, kexec, swap, clocks, ``io_uring``, ``userfaultfd``. ``clone3`` answers
``ENOSYS`` so the C library falls back to ``clone``, whose flags the filter can see. Unknown
calls answer ``ENOSYS`` too. Where no profile file exists, every call not refused is allowed
(a denylist; the README says so).
"""

from __future__ import annotations

import json
import platform
from collections.abc import Collection

PROFILE_PATHS = ("/usr/share/containers/seccomp.json", "/etc/containers/seccomp.json")
EPERM, ENOSYS = 1, 38

# Always refused: leaving the sandbox, or reaching what containers do not namespace.
DENIED = frozenset({
    "unshare", "setns", "mount", "umount", "umount2", "pivot_root", "fsopen", "fsconfig", "fsmount", "fspick",
    "move_mount", "open_tree", "mount_setattr", "keyctl", "add_key", "request_key", "bpf", "perf_event_open",
    "userfaultfd", "kexec_load", "kexec_file_load", "init_module", "finit_module", "delete_module",
    "create_module", "query_module", "get_kernel_syms", "acct", "swapon", "swapoff", "reboot", "syslog",
    "settimeofday", "clock_settime", "clock_settime64", "stime", "clock_adjtime", "clock_adjtime64", "adjtimex",
    "iopl", "ioperm", "lookup_dcookie", "quotactl", "quotactl_fd", "nfsservctl", "open_by_handle_at",
    "name_to_handle_at", "uselib", "ustat", "sysfs", "_sysctl", "vm86", "vm86old", "fanotify_init",
    "io_uring_setup", "io_uring_enter", "io_uring_register", "kcmp", "mbind", "set_mempolicy",
    "set_mempolicy_home_node", "migrate_pages", "move_pages", "vhangup", "bdflush", "pciconfig_iobase",
    "pciconfig_read", "pciconfig_write",
})
# clone's first argument carries the flags on the architectures we run (not on s390).
_CLONE_NAMESPACES = (0x00020000, 0x02000000, 0x04000000, 0x08000000, 0x10000000, 0x20000000, 0x40000000, 0x00000080)
# The native ABI and its 32-bit companion. Not x32 (amd64's ILP32 ABI, which Debian's kernels leave
# off and no image uses): each architecture adds ~5 ms of runc's filter compilation to every RUN,
# x32 ~9 ms, and its calls are refused without it.
_ARCHES = {
    "x86_64": ("amd64", ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86"]),
    "aarch64": ("arm64", ["SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM"]),
}


def profile(capabilities: Collection[str], machine: str | None = None,
            paths: tuple[str, ...] = PROFILE_PATHS) -> dict[str, object]:
    """The OCI ``linux.seccomp`` object for a container holding ``capabilities``."""
    arch, scmp_arches = _ARCHES.get(machine or platform.machine(), ("", []))
    rules = _distribution_rules(paths, frozenset(capabilities), arch)
    ns_mask = 0
    for flag in _CLONE_NAMESPACES:
        ns_mask |= flag
    syscalls: list[dict[str, object]] = [
        {"names": sorted(DENIED), "action": "SCMP_ACT_ERRNO", "errnoRet": EPERM},
        {"names": ["clone3"], "action": "SCMP_ACT_ERRNO", "errnoRet": ENOSYS},
    ]
    if rules is None:  # no allowlist here: allow what is not refused
        syscalls.extend({"names": ["clone"], "action": "SCMP_ACT_ERRNO", "errnoRet": EPERM,
                         "args": [{"index": 0, "value": flag, "valueTwo": flag, "op": "SCMP_CMP_MASKED_EQ"}]}
                        for flag in _CLONE_NAMESPACES)
        default: dict[str, object] = {"defaultAction": "SCMP_ACT_ALLOW"}
    else:
        syscalls.append({"names": ["clone"], "action": "SCMP_ACT_ALLOW",
                         "args": [{"index": 0, "value": ns_mask, "valueTwo": 0, "op": "SCMP_CMP_MASKED_EQ"}]})
        syscalls.extend(rules)
        default = {"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": ENOSYS}
    return {**default, "architectures": scmp_arches, "syscalls": syscalls}


def _distribution_rules(paths: tuple[str, ...], caps: frozenset[str], arch: str) -> list[dict[str, object]] | None:
    """The containers profile's rules that apply to us, without the names we decide ourselves."""
    for path in paths:
        try:
            with open(path) as f:
                doc = json.load(f)
            entries = doc["syscalls"]
            break
        except (OSError, ValueError, KeyError, TypeError):
            continue
    else:
        return None
    ours = DENIED | {"clone", "clone3"}
    out: list[dict[str, object]] = []
    for entry in entries:
        if not isinstance(entry, dict) or not _applies(entry, caps, arch):
            continue
        names = sorted(n for n in entry.get("names") or [] if isinstance(n, str) and n not in ours)
        action = entry.get("action")
        if not names or action not in ("SCMP_ACT_ALLOW", "SCMP_ACT_ERRNO"):
            continue
        rule: dict[str, object] = {"names": names, "action": action}
        if action == "SCMP_ACT_ERRNO":
            rule["errnoRet"] = int(entry.get("errnoRet") or EPERM)
        args = [{"index": a["index"], "value": a["value"], "valueTwo": a.get("valueTwo", 0), "op": a["op"]}
                for a in entry.get("args") or []]
        if args:
            rule["args"] = args
        out.append(rule)
    return out


def _applies(entry: dict[str, object], caps: frozenset[str], arch: str) -> bool:
    includes = entry.get("includes") or {}
    excludes = entry.get("excludes") or {}
    assert isinstance(includes, dict) and isinstance(excludes, dict)
    if includes.get("arches") and arch not in includes["arches"]:
        return False
    if includes.get("caps") and not set(includes["caps"]) <= caps:
        return False
    if includes.get("minKernel"):
        return False  # conditions on the kernel version: leave them to the default (ENOSYS)
    if excludes.get("arches") and arch in excludes["arches"]:
        return False
    return not (excludes.get("caps") and set(excludes["caps"]) & caps)
