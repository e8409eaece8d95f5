"""Root inside a user namespace: how the worker runs for an ordinary user.

A process that is not root unshares a user and a mount namespace and becomes uid 0 there, mapped
to the user's own id and — where ``/etc/subuid`` and ``/etc/subgid`` give the user a range and
``newuidmap``/``newgidmap`` (Debian's ``uidmap``) are installed — to that range for every other id,
so images with files of many owners unpack and ``--chown`` works. Without a range only the user's
own id is mapped: single-owner builds work, anything else says what is missing.

Inside, everything the worker does as root works the same: overlayfs mounts (kernel ≥ 5.11),
runc (which sees the namespace and leaves cgroups alone), slirp4netns. Mounts made there are
private to the namespace and vanish with it. The mapping is written from outside, by the parent,
because ``newuidmap`` must act on another process.
"""

from __future__ import annotations

import ctypes
import os
import pwd
import shutil
import subprocess

from bake._record import record
from bake.worker.errors import RootlessError

CLONE_NEWUSER = 0x10000000
CLONE_NEWNS = 0x00020000
_MS_REC = 0x4000
_MS_PRIVATE = 1 << 18


@record
class IdMaps:
    """``(inside, outside, count)`` rows for uid_map and gid_map; ``full`` when ranges are mapped."""

    uids: tuple[tuple[int, int, int], ...]
    gids: tuple[tuple[int, int, int], ...]
    full: bool


def ranges(path: str, name: str, ident: int) -> list[tuple[int, int]]:
    """``(start, count)`` ranges ``/etc/subuid``-style file ``path`` gives the user (by name or id)."""
    try:
        with open(path) as f:
            lines = f.read().splitlines()
    except OSError:
        return []
    out = []
    for line in lines:
        fields = line.strip().split(":")
        if len(fields) == 3 and fields[0] in (name, str(ident)) and fields[1].isdigit() and fields[2].isdigit():
            out.append((int(fields[1]), int(fields[2])))
    return out


def plan_maps(uid: int | None = None, gid: int | None = None, subuid: str = "/etc/subuid",
              subgid: str = "/etc/subgid") -> IdMaps:
    """The mapping this user can have; refuses (``RootlessError``) where user namespaces are off."""
    uid = os.getuid() if uid is None else uid
    gid = os.getgid() if gid is None else gid
    try:
        with open("/proc/sys/user/max_user_namespaces") as f:
            if int(f.read().strip() or 0) == 0:
                raise RootlessError("building as a normal user needs user namespaces, which this kernel has off: "
                                    "sysctl -w user.max_user_namespaces=15000 (as root), or build as root")
    except (OSError, ValueError):
        pass  # no such knob: the kernel allows them, or unshare will say why not
    try:
        name = pwd.getpwuid(uid).pw_name
    except KeyError:
        name = str(uid)
    sub_u, sub_g = ranges(subuid, name, uid), ranges(subgid, name, uid)
    if sub_u and sub_g and shutil.which("newuidmap") and shutil.which("newgidmap"):
        return IdMaps(_rows(uid, sub_u), _rows(gid, sub_g), True)
    return IdMaps(((0, uid, 1),), ((0, gid, 1),), False)


def _rows(own: int, subs: list[tuple[int, int]]) -> tuple[tuple[int, int, int], ...]:
    rows = [(0, own, 1)]
    inside = 1
    for start, count in subs:
        rows.append((inside, start, count))
        inside += count
    return tuple(rows)


def missing_range_hint(maps: IdMaps) -> str:
    """What to do when an image needs ids the mapping lacks (empty when ranges are mapped)."""
    if maps.full:
        return ""
    try:
        user = pwd.getpwuid(maps.uids[0][1]).pw_name  # the id outside: whoever started bake
    except KeyError:
        user = str(maps.uids[0][1])
    how = "" if shutil.which("newuidmap") else "apt-get install uidmap; "
    return (f"building as {user} maps only your own id; files owned by other users need a range of ids: "
            f"{how}usermod --add-subuids 100000-165535 --add-subgids 100000-165535 {user} (as root)")


def unshare() -> None:
    """Enter a new user and mount namespace (the calling process must have one thread)."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.unshare(CLONE_NEWUSER | CLONE_NEWNS) != 0:
        err = ctypes.get_errno()
        raise RootlessError(f"cannot create a user namespace: {os.strerror(err)} (are user namespaces "
                            "allowed for normal users here? see sysctl user.max_user_namespaces)")


def map_ids(pid: int, maps: IdMaps) -> None:
    """Write ``pid``'s id maps from outside it: newuidmap/newgidmap for ranges, else the files."""
    if maps.full:
        for tool, rows in (("newuidmap", maps.uids), ("newgidmap", maps.gids)):
            args = [str(n) for row in rows for n in row]
            proc = subprocess.run([tool, str(pid), *args], capture_output=True, text=True)
            if proc.returncode != 0:
                raise RootlessError(f"{tool} failed: {proc.stderr.strip()} (check /etc/subuid and /etc/subgid)")
        return
    with open(f"/proc/{pid}/setgroups", "w") as f:
        f.write("deny")  # required before an unprivileged process may write a gid map
    for name, rows in (("uid_map", maps.uids), ("gid_map", maps.gids)):
        with open(f"/proc/{pid}/{name}", "w") as f:
            f.write("".join(f"{a} {b} {c}\n" for a, b, c in rows))


def become_root(maps: IdMaps) -> None:
    """After the maps are written: be uid 0 and make every mount private to this namespace."""
    if maps.full:
        os.setgroups([])
    os.setresgid(0, 0, 0)
    os.setresuid(0, 0, 0)
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.mount(b"none", b"/", None, _MS_REC | _MS_PRIVATE, None) != 0:
        raise RootlessError(f"cannot make mounts private in the user namespace: {os.strerror(ctypes.get_errno())}")


def in_user_namespace() -> bool:
    """Whether this process runs in a user namespace other than the host's (as root there)."""
    try:
        with open("/proc/self/uid_map") as f:
            rows = [line.split() for line in f.read().splitlines()]
    except OSError:
        return False
    return rows != [["0", "0", "4294967295"]]
