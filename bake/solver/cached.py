"""Recognise a fully cached build without an event loop.

The same keys as the scheduler's, computed synchronously from salts that need no network: if every
root's key has a usable cache entry, the build is done — nothing to run, nothing to fetch — and the
event loop, the runtime and the registry client are never started. Anything else (a salt that needs
the network, a vertex that must run regardless of the cache, a miss) answers None: solve normally.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import TypeVar

from bake.progress.events import Built, Cached, Planned, Sink, Step
from bake.solver.cache import DirCache
from bake.solver.cachekey import cache_key
from bake.solver.outcome import Outcome
from bake.solver.protocols import Salt, Vertex

V = TypeVar("V", bound=Vertex)


def all_cached(roots: Sequence[tuple[str, V | None]], identity: Callable[[V], str],
               salt: Callable[[V], Salt | None], cache: DirCache, usable: Callable[[str], bool],
               sink: Sink, keys_out: dict[str, str] | None = None) -> list[Outcome] | None:
    """The outcomes if every root is cached (events sent), else None. ``keys_out`` receives the key
    of every vertex computed (identity → key)."""
    keys: dict[str, str | None] = {}

    def key(v: V) -> str | None:
        ident = identity(v)
        if ident not in keys:
            keys[ident] = None  # provisional: graphs are acyclic, this only guards the memo
            s = None if v.ignore_cache else salt(v)
            if s is None:
                return None
            inputs: list[str | None] = []
            for n, i in enumerate(v.inputs):
                if n in s.replaces:
                    inputs.append(None)
                    continue
                k = key(i)  # type: ignore[arg-type]
                if k is None:
                    return None
                inputs.append(k)
            keys[ident] = cache_key(ident, s, inputs)
        return keys[ident]

    hits: list[str | None] = []
    for _, v in roots:
        if v is None:
            hits.append(None)
            continue
        k = key(v)
        result = cache.get(k) if k is not None else None
        if result is None or not usable(result):
            return None
        hits.append(result)
    if keys_out is not None:
        keys_out.update({k: v for k, v in keys.items() if v is not None})
    now = time.time()
    sink(Planned(tuple(label for label, _ in roots), len({identity(v) for _, v in roots if v is not None}), now,
                 tuple(int(v is not None) for _, v in roots)))
    owners: dict[str, list[str]] = {}
    for label, v in roots:
        if v is not None:
            owners.setdefault(identity(v), []).append(label)
    for ident, labels in owners.items():
        v = next(v for _, v in roots if v is not None and identity(v) == ident)
        sink(Cached(Step(ident, v.name, tuple(labels)), now))
    for label, _ in roots:
        sink(Built(label, now))
    return [Outcome(label, r, None, 0, int(r is not None)) for (label, _), r in zip(roots, hits, strict=True)]
