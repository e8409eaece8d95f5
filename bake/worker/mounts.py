"""Mounts by system call: bind, read-only bind, overlay, unmount.

Every RUN mounts its rootfs and unmounts it afterwards; starting ``mount(8)``/``umount(8)`` for
each cost a fork, an exec and libmount's start-up (5–10 ms a call, more on a loaded machine). These
make the same ``mount(2)``/``umount2(2)`` calls those tools make for these cases. Failures raise
``OSError`` with the errno and the target.
"""

from __future__ import annotations

import ctypes
import errno
import os
import time

_libc = ctypes.CDLL(None, use_errno=True)

MS_RDONLY = 0x1
MS_NOSUID = 0x2
MS_NODEV = 0x4
MS_NOEXEC = 0x8
MS_REMOUNT = 0x20
MS_NOATIME = 0x400
MS_NODIRATIME = 0x800
MS_BIND = 0x1000
MS_RELATIME = 0x200000
MNT_DETACH = 0x2
_ST_RELATIME = 0x1000  # statvfs's f_flag spells relatime differently from mount(2)
_KEPT = MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_NOATIME | MS_NODIRATIME


def _mount(source: str, target: str, fstype: str | None, flags: int, data: str | None) -> None:
    if _libc.mount(source.encode(), target.encode(), fstype.encode() if fstype else None, flags,
                   data.encode() if data is not None else None) != 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err), target)


def bind(source: str, target: str, readonly: bool = False) -> None:
    """``mount --bind source target``, then ``-o remount,bind,ro`` when ``readonly``."""
    _mount(source, target, None, MS_BIND, None)
    if readonly:
        # A bind remount sets the mount's flags to exactly those given: keep the ones it has (a
        # user namespace may not clear nosuid/nodev/noexec inherited from the host), as mount(8) does.
        f_flag = os.statvfs(target).f_flag
        flags = MS_REMOUNT | MS_BIND | MS_RDONLY | (f_flag & _KEPT) | (MS_RELATIME if f_flag & _ST_RELATIME else 0)
        try:
            _mount("none", target, None, flags, None)
        except OSError:
            unmount(target)
            raise


def overlay(options: str, target: str) -> None:
    """``mount -t overlay overlay -o options target`` (``options`` holds absolute paths: the
    kernel resolves relative ones against this process's working directory)."""
    _mount("overlay", target, "overlay", 0, options)


def unmount(target: str, detach: bool = False) -> None:
    """``umount target`` (``umount --lazy`` with ``detach``). ``EBUSY`` is retried for up to ~2 s:
    a container that just exited may still hold its rootfs while the kernel takes its mount
    namespace down (seen under load in a 100-target build: "umount …: target is busy")."""
    for delay in (*([0.005] * 10), *([0.05] * 40)):
        if _libc.umount2(target.encode(), MNT_DETACH if detach else 0) == 0:
            return
        err = ctypes.get_errno()
        if err != errno.EBUSY:
            break
        time.sleep(delay)
    raise OSError(err, os.strerror(err), target)
