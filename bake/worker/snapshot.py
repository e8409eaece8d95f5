"""Overlayfs snapshots: each snapshot is a directory of changes on top of its parent chain.

Layout under the root: ``snapshots/<id>/fs`` (the changes), ``snapshots/<id>/work`` (overlay's
scratch), ``snapshots/<id>/parent`` and ``…/committed`` (metadata). Ids are short integers and
lower directories are given relative to ``snapshots/`` (the mount runs there), because the mount
option string is silently truncated near one page. A chain deeper than the kernel's 500 lower
layers (or whose options would pass 4,000 bytes) is mounted through a flattened copy: the merged
view of an ancestor at a depth that is a multiple of ``FLATTEN_STEP``, copied once into a parentless
snapshot recorded in ``snapshots/<ancestor>/flat`` and reused by every chain passing through it.
Options that still do not fit are refused rather than mounted wrong.

A committed snapshot is used only while it is whole: its ``fs`` directory present, its ``parent``
record agreeing with the copy kept in its ``committed`` marker, its ancestors whole (``committed``
checks, once per process). A damaged one is moved aside to ``snapshots/<id>.broken`` and reported
in ``repaired``; whatever is keyed to it (cache entries, image chains, layer blobs) then misses and
is rebuilt, and prune deletes it. Ids are never reused (a high-water mark in ``snapshots/.last-id``
outlives pruned and broken ones), so a stale record naming an old id can never name a new snapshot.
"""

from __future__ import annotations

import contextlib
import functools
import os
import shutil
import subprocess
from collections.abc import Iterator

from bake.content.atomic import temp_name, write_atomic
from bake.content.stateroot import StateRoot
from bake.worker import mounts
from bake.worker.errors import SnapshotError

MAX_OPTIONS = 4000
MAX_LOWERS = 500
FLATTEN_STEP = 256  # flatten points sit at fixed depths, so every descendant shares them


BROKEN = ".broken"


class Snapshotter:
    def __init__(self, root: str) -> None:
        self.dir = os.path.abspath(StateRoot(root).snapshots)
        os.makedirs(self.dir, exist_ok=True)
        self.repaired: list[str] = []  # damaged snapshots moved aside: the app reports them as warnings
        self.judge = True  # False for a reader that may not see everything (an ordinary user outside its namespace)
        self._whole: set[str] = set()  # committed snapshots found whole (they never change after)

    # --- lifecycle ----------------------------------------------------------------------------

    def prepare(self, parent: str | None) -> str:
        """A new active snapshot on top of ``parent`` (a committed one, or None for an empty tree)."""
        if parent is not None and not self.committed(parent):
            raise SnapshotError(f"snapshot {parent} is not committed")
        sid = self._new_id()
        base = os.path.join(self.dir, sid)
        os.makedirs(os.path.join(base, "fs"))
        os.makedirs(os.path.join(base, "work"))
        if parent is not None:
            # not fsynced: the commit marker repeats the parent, so a record a crash emptied is
            # recognised as damaged (one fsync less per step, 5–10 ms on a busy disk)
            write_atomic(os.path.join(base, "parent"), parent.encode(), durable=False)
        return sid

    def commit(self, sid: str) -> str:
        """Freeze an active snapshot; it can then be a parent. The marker repeats the parent, so a
        damaged ``parent`` file is recognised."""
        shutil.rmtree(os.path.join(self.dir, sid, "work"), ignore_errors=True)
        write_atomic(os.path.join(self.dir, sid, "committed"), _marker(self.parent(sid)))
        return sid

    def remove(self, sid: str) -> None:
        if any(self.parent(other) == sid for other in self.ids()):
            raise SnapshotError(f"snapshot {sid} has children")
        flat = self._flat(sid)
        shutil.rmtree(os.path.join(self.dir, sid))
        if flat is not None:
            shutil.rmtree(os.path.join(self.dir, flat), ignore_errors=True)

    # --- queries ------------------------------------------------------------------------------

    def ids(self) -> list[str]:
        return sorted((n for n in os.listdir(self.dir) if n.isdigit()), key=int)

    def parent(self, sid: str) -> str | None:
        try:
            with open(os.path.join(self.dir, sid, "parent")) as f:
                return f.read() or None
        except FileNotFoundError:
            return None

    def committed(self, sid: str) -> bool:
        """Whether ``sid`` is committed and whole, with its whole chain. A committed snapshot found
        damaged (or on a damaged chain) is moved aside and reported, and this answers False."""
        if sid in self._whole:
            return True
        if not sid.isdigit() or not os.path.exists(os.path.join(self.dir, sid, "committed")):
            return False
        checked: list[str] = []
        at: str | None = sid
        while at is not None and at not in self._whole:
            why = self._damage(at, checked)
            if why:
                for s in [*checked, at]:  # the damaged one, and what was found resting on it
                    self._set_aside(s, why if s == at else f"its ancestor {at} {why}")
                return False
            checked.append(at)
            at = self.parent(at)
        self._whole.update(checked)
        return True

    def _damage(self, sid: str, below: list[str]) -> str:
        """Why a snapshot that should be committed cannot be used ("" if it is whole)."""
        base = os.path.join(self.dir, sid)
        try:
            with open(os.path.join(base, "committed"), "rb") as f:
                marker = f.read()
        except FileNotFoundError:
            return "is not committed"
        if not os.path.isdir(os.path.join(base, "fs")):
            return "has lost its fs directory"
        parent = self.parent(sid)
        if marker and marker != _marker(parent):
            return "has a damaged parent record"
        if parent is not None and (not parent.isdigit() or parent == sid or parent in below):
            return "has a damaged parent record"
        return ""

    def _set_aside(self, sid: str, why: str) -> None:
        if not self.judge:
            return  # a reader's doubt is only a miss: the one that can check (root, or root in the namespace) decides
        if not os.path.exists(os.path.join(self.dir, sid, "committed")):
            return  # an active snapshot of a running step: not ours to judge
        with contextlib.suppress(FileNotFoundError, OSError):
            os.rename(os.path.join(self.dir, sid), os.path.join(self.dir, sid + BROKEN))
            self.repaired.append(f"snapshot {sid} {why}; set aside, its steps build again")

    def broken(self) -> list[str]:
        """Snapshot directories set aside as damaged (for prune to delete)."""
        return sorted(os.path.join(self.dir, n) for n in os.listdir(self.dir) if n.endswith(BROKEN))

    def chain(self, sid: str) -> list[str]:
        """``sid`` and its ancestors, nearest first."""
        out = [sid]
        while (p := self.parent(out[-1])) is not None:
            if p in out or not p.isdigit():
                raise SnapshotError(f"snapshot {out[-1]} has a damaged parent record ({p!r})")
            out.append(p)
        return out

    def upper(self, sid: str) -> str:
        """The directory holding this snapshot's own changes (what the differ reads)."""
        return os.path.join(self.dir, sid, "fs")

    def set_layer_of(self, sid: str, source: str) -> None:
        """Record, before ``sid`` is committed, that its layer is ``source``'s own: a merge that put
        one parentless snapshot on top (``COPY --link``), whose layer BuildKit exports as it is,
        whatever the merge below already held."""
        write_atomic(os.path.join(self.dir, sid, "layer-of"), source.encode(), durable=False)

    def layer_of(self, sid: str) -> str | None:
        """The snapshot whose layer ``sid`` exports (``set_layer_of``), if it is still whole."""
        try:
            with open(os.path.join(self.dir, sid, "layer-of")) as f:
                source = f.read()
        except (FileNotFoundError, NotADirectoryError):
            return None
        return source if source.isdigit() and source != sid and self.committed(source) else None

    # --- mounts -------------------------------------------------------------------------------

    def mount(self, sid: str, target: str, readonly: bool = False) -> None:
        """Mount the merged view of ``sid`` at ``target`` (writable unless ``readonly`` or committed)."""
        chain = self.chain(sid)
        writable = not readonly and not self.committed(sid)
        lowers = chain[1:] if writable else chain
        if not lowers:
            self._bind(self.upper(sid), target, readonly)
            return
        lowers = self._fit(lowers)
        if not writable and len(lowers) == 1:  # overlay needs two lowers without an upper; a read-only bind does it
            self._bind(self.upper(lowers[0]), target, readonly=True)
            return

        def options(prefix: str) -> str:
            text = "lowerdir=" + ":".join(f"{prefix}{p}/fs" for p in lowers)
            text += f",upperdir={prefix}{sid}/fs,workdir={prefix}{sid}/work" if writable else ""
            return text + (",userxattr" if _user_xattrs() else "")

        relative = options("")
        if len(relative) > MAX_OPTIONS:
            raise SnapshotError(f"snapshot {sid}: overlay options of {len(relative)} bytes would be truncated")
        absolute = options(self.dir + "/")
        if len(absolute) <= MAX_OPTIONS and not {":", ","} & set(self.dir):
            try:  # the usual short chain: by system call, without starting mount(8)
                mounts.overlay(absolute, os.path.abspath(target))
            except OSError as e:
                raise SnapshotError(f"mount -t overlay…: {e.strerror}") from e
            return
        # relative to snapshots/ (mount(8) runs there): a deep chain's options must fit in a page
        self._run(["mount", "-t", "overlay", "overlay", "-o", relative, os.path.abspath(target)])

    def _bind(self, source: str, target: str, readonly: bool) -> None:
        try:
            mounts.bind(source, os.path.join(self.dir, target), readonly)
        except OSError as e:
            raise SnapshotError(f"mount --bind {source}…: {e.strerror}") from e

    # --- flattening ---------------------------------------------------------------------------

    def _fit(self, lowers: list[str]) -> list[str]:
        """``lowers`` (nearest first), or an equivalent shorter list ending in a flattened snapshot."""
        if len(lowers) <= MAX_LOWERS and sum(len(p) + 4 for p in lowers) < MAX_OPTIONS - 200:
            return lowers
        depth = len(lowers) - 1  # of lowers[0]; the last lower is the chain's root at depth 0
        for i in range(1, len(lowers)):
            if (depth - i) % FLATTEN_STEP == 0 and depth - i > 0:
                return [*lowers[:i], self._flatten(lowers[i])]
        return lowers  # too shallow to flatten: the caller's limits decide

    def _flat(self, sid: str) -> str | None:
        try:
            with open(os.path.join(self.dir, sid, "flat")) as f:
                flat = f.read()
        except FileNotFoundError:
            return None
        return flat if self.committed(flat) else None

    def _flatten(self, sid: str) -> str:
        """A parentless committed snapshot with the merged contents of ``sid``'s whole chain."""
        if (flat := self._flat(sid)) is not None:
            return flat
        flat = self.prepare(None)
        view = os.path.join(self.dir, flat, "view")
        os.mkdir(view)
        self.mount(sid, view, readonly=True)
        try:
            self._run(["cp", "-a", "--", view + "/.", self.upper(flat)])
        finally:
            self.unmount(view)
            os.rmdir(view)
        self.commit(flat)
        write_atomic(os.path.join(self.dir, sid, "flat"), flat.encode())
        return flat

    @contextlib.contextmanager
    def scratch(self, sid: str | None, target: str) -> Iterator[str]:
        """Mount a writable throwaway child of ``sid`` at ``target``: what a ``rw`` bind mount from
        a stage or image gets — the process may write, and every change is dropped afterwards."""
        child = self.prepare(sid)
        try:
            self.mount(child, target)
            try:
                yield target
            finally:
                self.unmount(target)
        finally:
            shutil.rmtree(os.path.join(self.dir, child))

    def unmount(self, target: str) -> None:
        try:
            mounts.unmount(os.path.join(self.dir, target))
        except OSError as e:
            raise SnapshotError(f"umount {target}…: {e.strerror}") from e

    def _run(self, cmd: list[str]) -> None:
        proc = subprocess.run(cmd, cwd=self.dir, capture_output=True, text=True)
        if proc.returncode != 0:
            raise SnapshotError(f"{' '.join(cmd[:3])}…: {proc.stderr.strip() or 'failed'}")

    def _new_id(self) -> str:
        mark = os.path.join(self.dir, LAST_ID)
        try:
            with open(mark) as f:
                last = int(f.read().strip() or 0)
        except (OSError, ValueError):
            last = 0  # lost or damaged: the directories still tell the largest id in use
        used = (int(n.partition(".")[0]) for n in os.listdir(self.dir) if n.partition(".")[0].isdigit())
        n = max(last, max(used, default=0)) + 1
        while True:
            try:
                os.mkdir(os.path.join(self.dir, str(n)))
                break
            except FileExistsError:  # another process took it
                n += 1
        with contextlib.suppress(OSError):  # not fsynced: after a crash the directories still tell
            tmp = temp_name(mark)
            with open(tmp, "w") as f:
                f.write(str(n))
            os.replace(tmp, mark)
        return str(n)


LAST_ID = ".last-id"


@functools.cache
def _user_xattrs() -> bool:
    """Whether overlays keep their xattrs in ``user.overlay.*`` (``userxattr``): in a user namespace,
    where ``trusted.*`` cannot be set — without it, removing a directory that a lower layer also
    holds fails with EIO (the whiteout needs an opaque mark), as does everything else needing one."""
    from bake.worker.userns import in_user_namespace

    return in_user_namespace()


def _marker(parent: str | None) -> bytes:
    return f"parent={parent or ''}\n".encode()

