"""A process's fingerprint: everything a forked copy of a build server must share with it.

Bake's code (every module's size and mtime), the interpreter and its search path, and the process's
world — its namespaces, root, cgroup, user, groups, capabilities, seccomp mode, security label,
audit session, resource limits, OOM score, niceness, CPU and memory affinity, locale and the dynamic
loader's variables: a client never gets more rights or another world through the server than it
has. Computed by every ``bake`` before its first import of substance (``bake.cli.client``), so it
imports only what is built in.
"""

from __future__ import annotations

import marshal
import os
import sys


def fingerprint() -> bytes:
    """Everything a forked copy of a server must share with this process (see the module's doc)."""
    package = package_directory()
    parts: list[object] = [sys.executable, sys.version, sys.path[1:], os.getresuid(), os.getresgid(),
                           sorted(os.getgroups()), code_files(package), _paths_mtimes(sys.path[1:]),
                           os.getpriority(os.PRIO_PROCESS, 0), sorted(os.sched_getaffinity(0))]
    for name in ("mnt", "pid", "user", "net", "ipc", "uts", "cgroup", "time"):
        try:
            parts.append(os.stat(f"/proc/self/ns/{name}").st_ino)
        except OSError:
            parts.append(None)
    st = os.stat("/")
    parts.append((st.st_dev, st.st_ino))
    import _locale  # built in (locale.py costs imports)

    # What Python chose at start from LC_ALL/LC_CTYPE/LANG: the default encoding of files and names.
    parts.append((_locale.setlocale(_locale.LC_CTYPE), sys.flags.utf8_mode, sys.getfilesystemencoding()))
    # What the dynamic loader and the C library read once, at start (LD_PRELOAD: fakeroot, proxychains…).
    parts.append(sorted((k, v) for k, v in os.environ.items() if k.startswith(("LD_", "GLIBC_", "MALLOC_"))))
    # The cgroup, the security label (AppArmor, SELinux), the audit session and the OOM killer's
    # preference; capabilities, no_new_privs, seccomp and the memory nodes: no more rights than here.
    for name in ("cgroup", "attr/current", "loginuid", "oom_score_adj"):
        parts.append(_proc_self(name))
    parts.append(_status())
    import resource

    # Every limit (file size, address space, processes, core dumps…), not only open files': the
    # command may not write a larger file or use more memory through the server than here.
    parts.append([resource.getrlimit(n) for n in range(16)])  # Linux has 16: RLIMIT_CPU … RLIMIT_RTTIME
    return marshal.dumps(repr(parts))


def _proc_self(name: str) -> bytes | None:
    try:
        with open(f"/proc/self/{name}", "rb") as f:
            return f.read()
    except OSError:
        return None


def _status() -> list[bytes]:
    status = _proc_self("status") or b""
    return [line for line in status.splitlines() if line.startswith((b"Cap", b"NoNewPrivs", b"Seccomp", b"Mems_allowed"))]


def confined() -> bool:
    """A process under ``no_new_privs`` may carry seccomp filters or Landlock rules, which the kernel
    lets no one read back: the fingerprint cannot tell one confinement from another, so such a
    process never hands its command to a server (which may run under a looser one)."""
    return b"NoNewPrivs:\t1" in _status()


def package_directory() -> str:
    """The directory of the ``bake`` package."""
    return os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def code_files(package: str) -> list[tuple[str, int, int]]:
    """Every module of bake: path, size and modification time."""
    found: list[tuple[str, int, int]] = []
    pending = [package]
    while pending:
        directory = pending.pop()
        try:
            with os.scandir(directory) as entries:
                for entry in entries:
                    if entry.is_dir(follow_symlinks=False):
                        if entry.name != "__pycache__":
                            pending.append(entry.path)
                    elif entry.name.endswith(".py"):
                        st = entry.stat()
                        found.append((entry.path, st.st_size, st.st_mtime_ns))
        except OSError:  # a directory this user may not read (or one just removed): named, not walked
            found.append((directory, -1, -1))
    found.sort()
    return found


def _paths_mtimes(paths: list[str]) -> list[int | None]:
    """Installing or removing a package changes its site-packages directory. Only those count: the
    checkout on the path of an editable install changes with every file made in it (its modules
    are ``code_files``'s)."""
    out: list[int | None] = []
    for path in paths:
        if os.path.basename(path) not in ("site-packages", "dist-packages"):
            continue
        try:
            out.append(os.stat(path).st_mtime_ns)
        except OSError:
            out.append(None)
    return out


def digest(facts: bytes) -> str:
    import _sha256  # type: ignore[import-not-found]  # no stub: hashlib's import costs 3 ms

    return str(_sha256.sha256(facts).hexdigest()[:24])
