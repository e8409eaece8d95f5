"""Merging targets (``inherits``, same-name blocks, several files) and normalising them.

Right-biased per field: only fields the later target *sets* change the result, and each field
merges by its own rule (replace, append, per-key, dedupe by id or type), as buildx does.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from bake.model import Target

T = TypeVar("T")

REPLACE = frozenset({
    "context", "dockerfile", "dockerfile_inline", "target", "network", "shm_size", "call", "tags",
    "cache_to", "platforms", "output", "pull", "no_cache",
})
PER_KEY = frozenset({"contexts", "extra_hosts", "resources"})
NULL_SKIPPING = frozenset({"args", "labels"})
APPEND = frozenset({"annotations", "no_cache_filter", "ulimits", "entitlements", "policy", "inherits"})


def dedupe(items: Iterable[T]) -> tuple[T, ...]:
    """Hashable items, first occurrences kept in order."""
    return tuple(dict.fromkeys(items))


def swap_dedupe(items: Iterable[T]) -> tuple[T, ...]:
    """buildx's ``removeDupes`` for outputs and cache entries, whose order users see in ``--print``.

    Walking backwards, each element that has an equal one later in the list sends that later
    duplicate to the end (swapping with the last element) and drops it, so ``[a, a, b, c]``
    becomes ``[a, c, b]``.
    """
    s = list(items)
    for i in range(len(s) - 2, -1, -1):
        for j in range(i + 1, len(s)):
            if s[i] == s[j]:
                s[j], s[-1] = s[-1], s[j]
                s.pop()
                break
    return tuple(s)


def _dedupe_by(items: Iterable[T], key: Callable[[T], object]) -> tuple[T, ...]:
    """Last occurrence wins, at the first occurrence's position."""
    out: list[T] = []
    index: dict[object, int] = {}
    for x in items:
        k = key(x)
        if k in index:
            out[index[k]] = x
        else:
            index[k] = len(out)
            out.append(x)
    return tuple(out)


def merge(base: Target, over: Target) -> Target:
    """``over`` applied on ``base``; the result keeps ``base``'s name."""
    changes: dict[str, Any] = {}
    for name in _FIELDS:
        new = getattr(over, name)
        if new is None:
            continue
        old = getattr(base, name)
        if name == "description":
            if new:
                changes[name] = new
        elif name in REPLACE or old is None:
            changes[name] = dict(new) if isinstance(new, dict) else new
            if name in NULL_SKIPPING:
                changes[name] = {k: v for k, v in new.items() if v is not None}
            elif name == "cache_from":
                changes[name] = swap_dedupe(new)
        elif name in PER_KEY:
            changes[name] = {**old, **new}
        elif name in NULL_SKIPPING:
            changes[name] = {**old, **{k: v for k, v in new.items() if v is not None}}
        elif name == "attest":
            changes[name] = _dedupe_by((*old, *new), lambda a: a.type)
        elif name in ("secret", "ssh"):
            changes[name] = _dedupe_by((*old, *new), lambda s: s.id)
        elif name == "cache_from":
            changes[name] = swap_dedupe((*old, *new))
        elif name in APPEND:
            changes[name] = (*old, *new)
        else:  # pragma: no cover - every field has a rule
            raise AssertionError(name)
    # The directory that relative paths belong to: the file that set the context, else the latest file.
    if over.source_dir is not None and ("context" in changes or base.context is None):
        changes["source_dir"] = over.source_dir
    return base.evolve(**changes) if changes else base


def normalize(t: Target) -> Target:
    """buildx's normalisation after merging: dedupe lists, drop empty values, network=host entitlement;
    ``inherits`` is consumed."""
    changes: dict[str, Any] = {"inherits": None}
    for name in ("annotations", "platforms", "no_cache_filter", "ulimits", "entitlements", "tags"):
        v = getattr(t, name)
        if v is not None:
            changes[name] = dedupe(x for x in v if x != "")
    for name in ("cache_from", "cache_to", "output"):
        v = getattr(t, name)
        if v is not None:
            changes[name] = swap_dedupe(v)
    if t.attest is not None:
        changes["attest"] = _dedupe_by(t.attest, lambda a: a.type)
    if t.secret is not None:
        changes["secret"] = _dedupe_by(t.secret, lambda s: s.id)
    if t.ssh is not None:
        changes["ssh"] = _dedupe_by(t.ssh, lambda s: s.id)
    if t.contexts is not None:
        changes["contexts"] = {k: v for k, v in t.contexts.items() if v != ""}
    if t.network == "host":
        changes["entitlements"] = dedupe((*changes.get("entitlements", ()), "network.host"))
    return t.evolve(**changes)


_FIELDS = (
    "description", "inherits", "annotations", "attest", "context", "contexts", "dockerfile", "dockerfile_inline",
    "args", "labels", "tags", "cache_from", "cache_to", "target", "secret", "ssh", "platforms", "output",
    "pull", "no_cache", "network", "no_cache_filter", "shm_size", "ulimits", "resources", "call",
    "entitlements", "extra_hosts", "policy",
)
