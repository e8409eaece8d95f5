"""Recognise a fully cached build without an event loop.

The keys are the ``KeyPlan``'s, computed offline from salts that need no network: if every root's
key has a usable cache entry, the build is done — nothing to run, nothing to fetch — and the event
loop, the runtime and the registry client are never started. Anything else (a salt that needs the
network, a vertex that must run regardless of the cache, a miss) answers None: solve normally,
handing the same plan to the scheduler so nothing computed here is computed again.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from bake.progress.events import Built, Cached, Planned, Sink, Step
from bake.solver.keyplan import KeyPlan
from bake.solver.outcome import Outcome
from bake.solver.protocols import Cache, Salt, V


def all_cached(roots: Sequence[tuple[str, V | None]], plan: KeyPlan[V], salt: Callable[[V], Salt | None],
               cache: Cache, usable: Callable[[str], bool], sink: Sink) -> list[Outcome] | None:
    """The outcomes if every root is cached (events sent), else None."""
    identity = plan.identity
    hits: list[str | None] = []
    for _, v in roots:
        if v is None:
            hits.append(None)
            continue
        k = plan.offline(v, salt)
        result = cache.get(k) if k is not None else None
        if result is None or not usable(result):
            return None
        hits.append(result)
    now = time.time()
    sink(Planned(tuple(label for label, _ in roots), len({identity(v) for _, v in roots if v is not None}), now,
                 tuple(int(v is not None) for _, v in roots)))
    owners: dict[str, list[str]] = {}
    for label, v in roots:
        if v is not None:
            owners.setdefault(identity(v), []).append(label)
    for ident, labels in owners.items():
        v = next(v for _, v in roots if v is not None and identity(v) == ident)
        sink(Cached(Step(ident, v.name, tuple(labels), v.location, plan.bases.get(ident, "")), now))
    for label, _ in roots:
        sink(Built(label, now))
    return [Outcome(label, r, None, 0, int(r is not None)) for (label, _), r in zip(roots, hits, strict=True)]
