"""``bake du`` and ``bake prune``: what the cache holds, and removing what is old or over budget.

What is kept alive: every cache entry's snapshot and its ancestors (an old entry whose snapshot a
kept one still needs is kept too: removing it would free nothing), and the unpacked image layer
chains (``layers.json``) those snapshots grow from. ``prune`` removes cache entries not used since
``--filter until=DURATION`` ago, then the least recently used ones until the snapshots fit in
``--keep-storage``, then every snapshot nothing keeps alive (image chains included: their blobs stay
in the content store, so a later pull only unpacks them again). Snapshots left uncommitted by a
killed build go too, and so does litter of any crash: damaged snapshots set aside by builds,
cache entries whose snapshot is gone or damaged, records of removed snapshots in
``layerblobs.json``, and temp files of dead writers. Prune refuses to run while a build uses the
same root.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import time
from collections.abc import Iterable

from bake._record import record
from bake.content.jsonstate import is_descriptor, load_map, save_map
from bake.content.stateroot import StateRoot
from bake.content.store import ContentStore
from bake.errors import UsageError
from bake.solver.cache import DirCache, Entry
from bake.worker.copysnapshot import open_snapshotter
from bake.worker.layers import Layers
from bake.worker.recovery import PREFIX, abandoned, recover, sweep
from bake.worker.snapshot import Snapshotter

_UNITS = {"": 1, "b": 1, "k": 1 << 10, "kb": 1 << 10, "m": 1 << 20, "mb": 1 << 20, "g": 1 << 30, "gb": 1 << 30,
          "t": 1 << 40, "tb": 1 << 40}
_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)")


@record
class Usage:
    entries: int  # cache entries
    snapshots: int
    snapshot_bytes: int
    reclaimable_bytes: int  # snapshots nothing keeps alive
    content_bytes: int  # image blobs
    cachemount_bytes: int
    images: int = 0  # names in bake's image store (type=image)


@record
class Pruned:
    entries: int
    snapshots: int
    bytes: int


def usage(root: str) -> Usage:
    snaps = open_snapshotter(root)
    entries = list(DirCache(root).entries())
    sizes = {sid: _size(os.path.join(snaps.dir, sid)) for sid in snaps.ids()}  # as prune counts what it frees
    live = _alive(snaps, [e.result for e in entries], _image_tops(root))
    stored = len(load_map(StateRoot(root).images, lambda _k, v: is_descriptor(v))[0])
    return Usage(len(entries), len(sizes), sum(sizes.values()), sum(v for k, v in sizes.items() if k not in live),
                 _size(StateRoot(root).content), _size(StateRoot(root).cachemounts), stored)


def prune(root: str, until: float | None = None, keep_storage: int | None = None, now: float | None = None,
          keep_images: bool = False, blobs: bool = False) -> Pruned:
    """Remove old entries (unused for ``until`` seconds), then the least recently used until the
    snapshots take at most ``keep_storage`` bytes, then everything no entry keeps alive — except,
    with ``keep_images``, the unpacked base images (as buildx's prune keeps its internal images).
    ``blobs`` (``prune -a``) also deletes every stored blob no image in bake's image store uses."""
    if any(not _dead(p) for p in _scratch_dirs(root)):
        raise UsageError("a build is running with this root; prune when it has finished")
    run_dir = StateRoot(root).run
    dead = abandoned(run_dir)
    for runtime in ("runc", "crun"):  # a killed build's containers and mounts go before its snapshots
        if dead and shutil.which(runtime):
            recover(run_dir, runtime, dead)
    sweep(root, everything=True)
    from bake.solver.locks import FileLocks

    FileLocks(root).clean()  # lock files of killed holders (a holder removes its own)
    snaps = open_snapshotter(root)
    cache = DirCache(root)
    entries = sorted(cache.entries(), key=lambda e: e.last_used)
    dangling = [e for e in entries if not snaps.committed(e.result)]  # damaged ones are set aside here
    for e in dangling:
        cache.remove(e.key)
    entries = [e for e in entries if e not in dangling]
    now = time.time() if now is None else now
    drop: list[Entry] = [e for e in entries if until is not None and e.last_used < now - until]
    kept = [e for e in entries if e not in drop]
    if keep_storage is not None:
        sizes = {sid: _size(os.path.join(snaps.dir, sid)) for sid in snaps.ids()}
        while kept and sum(sizes[s] for s in _alive(snaps, [e.result for e in kept], _image_tops(root))
                           if s in sizes) > keep_storage:
            drop.append(kept.pop(0))
    live = _alive(snaps, [e.result for e in kept], _image_tops(root) if keep_images else [])
    drop = [e for e in drop if e.result not in live]  # an entry whose snapshot stays anyway frees nothing
    for e in drop:
        cache.remove(e.key)
    freed = removed = 0
    gone: set[str] = set()
    for sid in sorted(snaps.ids(), key=int, reverse=True):  # children have larger ids than parents
        if sid not in live:
            freed += _size(os.path.join(snaps.dir, sid))
            _remove(snaps, sid)
            gone.add(sid)
            removed += 1
    for path in snaps.broken():
        freed += _size(path)
        shutil.rmtree(path, ignore_errors=True)
        gone.add(os.path.basename(path).partition(".")[0])
    _forget_images(root, live)
    store = ContentStore(StateRoot(root).content)
    if gone:
        Layers(root, store, snaps).forget(gone)
    if blobs:
        freed += _unused_blobs(root, store)
    return Pruned(len(drop) + len(dangling), removed, freed)


def _unused_blobs(root: str, store: ContentStore) -> int:
    """Delete the blobs no image of bake's image store reaches; the bytes freed."""
    import json

    keep: set[str] = set()
    todo = [d["digest"] for d in load_map(StateRoot(root).images, lambda _k, v: is_descriptor(v))[0].values()]
    while todo:
        digest = todo.pop()
        if digest in keep or not store.exists(digest):
            continue
        keep.add(digest)
        try:
            doc = json.loads(store.read(digest))
        except (ValueError, OSError, UnicodeDecodeError):
            continue  # a layer or config: no references inside
        if isinstance(doc, dict):
            refs = [doc.get("config"), *(doc.get("layers") or []), *(doc.get("manifests") or [])]
            todo.extend(r["digest"] for r in refs if isinstance(r, dict) and isinstance(r.get("digest"), str))
    freed = 0
    for digest in store.digests():
        if digest not in keep:
            with contextlib.suppress(OSError):
                freed += os.path.getsize(store.path(digest))
            store.delete(digest)
    return freed


def parse_size(text: str) -> int:
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*", text)
    if not m or m.group(2).lower() not in _UNITS:
        raise UsageError(f"invalid size {text!r} (e.g. 512mb, 10gb)")
    return int(float(m.group(1)) * _UNITS[m.group(2).lower()])


def parse_duration(text: str) -> float:
    """Go-style durations as buildx takes them: ``24h``, ``90m``, ``1h30m``, and ``7d``."""
    parts = _DURATION.findall(text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise UsageError(f"invalid duration {text!r} (e.g. 24h, 90m, 7d)")
    scale = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}
    return sum(float(n) * scale[u] for n, u in parts)


def _alive(snaps: Snapshotter, tops: Iterable[str], images: Iterable[str]) -> set[str]:
    live: set[str] = set()
    for top in (*tops, *images):
        if snaps.committed(top):  # whole, with its chain
            live.update(snaps.chain(top))
    for sid in list(live):  # a flattened copy serves every chain through its ancestor
        flat = os.path.join(snaps.dir, sid, "flat")
        if os.path.exists(flat):
            with open(flat) as f:
                live.add(f.read())
    return live


def _image_tops(root: str) -> list[str]:
    return list(_chains(root).values())


def _chains(root: str) -> dict[str, str]:
    """``layers.json``: image layer chain → its top snapshot (entries of another shape left out)."""
    return load_map(StateRoot(root).layers, lambda _k, v: isinstance(v, str) and v.isdigit())[0]


def _forget_images(root: str, live: set[str]) -> None:
    path = StateRoot(root).layers
    if os.path.exists(path):
        save_map(path, {k: v for k, v in _chains(root).items() if v in live})


def _remove(snaps: Snapshotter, sid: str) -> None:
    shutil.rmtree(os.path.join(snaps.dir, sid), ignore_errors=True)


def _scratch_dirs(root: str) -> list[str]:
    run = StateRoot(root).run
    return [os.path.join(run, n) for n in os.listdir(run) if n.startswith(PREFIX)] if os.path.isdir(run) else []


def _dead(path: str) -> bool:
    return path in abandoned(os.path.dirname(path))


def _size(path: str) -> int:
    total = 0
    for base, dirs, files in os.walk(path):
        for name in files + dirs:
            with contextlib.suppress(OSError):
                total += os.lstat(os.path.join(base, name)).st_blocks * 512
    return total
