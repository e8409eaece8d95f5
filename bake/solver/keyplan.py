"""A build's cache keys, computed once per vertex: the one place the key algorithm lives.

A vertex's base key is ``cache_key(identity, salt, keys of the inputs its salt does not replace)``
(cachekey.py); a vertex that runs regardless of the cache (``ignore_cache``) has no key its
dependents can use before it has run (the scheduler then gives them ``executed_key``).

The plan is filled two ways and both give the same keys, because both end in ``add``:

* ``offline`` walks the graph synchronously with salts answered without the network (the
  all-cached check: no event loop, runtime or registry client);
* the scheduler completes it while solving, asking the backend for the salts still missing.

A solver handed a plan never recomputes a salt or key already in it, so a build whose offline
pass found a miss does not hash its contexts twice.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Generic

from bake.solver.cachekey import cache_key
from bake.solver.protocols import Salt, V


class KeyPlan(Generic[V]):
    def __init__(self, identity: Callable[[V], str]) -> None:
        self.identity = identity
        self.salts: dict[str, Salt] = {}  # identity → salt
        self.bases: dict[str, str] = {}  # identity → base key

    def base(self, v: V) -> str | None:
        """The vertex's base key, if already known."""
        return self.bases.get(self.identity(v))

    def salt(self, v: V) -> Salt | None:
        """The vertex's salt, if already known."""
        return self.salts.get(self.identity(v))

    def add(self, v: V, salt: Salt, input_keys: Sequence[str | None]) -> str:
        """Record the vertex's salt and the base key made of it and its inputs' keys (None for the
        inputs the salt replaces); returns the key."""
        ident = self.identity(v)
        self.salts[ident] = salt
        key = self.bases[ident] = cache_key(ident, salt, input_keys)
        return key

    def offline(self, root: V, salt_of: Callable[[V], Salt | None]) -> str | None:
        """The base key of ``root`` from salts ``salt_of`` answers without the network (None where
        it cannot), or None — at the first vertex whose key cannot be known this way (an unknown
        salt, a vertex that must run regardless of the cache); what was computed stays recorded."""
        stack: list[tuple[V, bool]] = [(root, False)]
        while stack:
            v, expanded = stack.pop()
            ident = self.identity(v)
            if ident in self.bases:
                continue
            if v.ignore_cache:
                return None
            salt = self.salts.get(ident)
            if salt is None:
                salt = salt_of(v)
                if salt is None:
                    return None
                self.salts[ident] = salt
            inputs: list[V] = list(v.inputs)  # type: ignore[arg-type]
            needed = [i for n, i in enumerate(inputs) if n not in salt.replaces]
            if not expanded:
                stack.append((v, True))
                stack.extend((i, False) for i in reversed(needed))  # first input first, as the scheduler asks
                continue
            self.add(v, salt, [None if n in salt.replaces else self.bases[self.identity(i)]
                               for n, i in enumerate(inputs)])
        return self.bases[self.identity(root)]
