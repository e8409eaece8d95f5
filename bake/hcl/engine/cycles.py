"""Cycle detection for lazy evaluation: the names being computed right now (buildx's in-progress set)."""

from __future__ import annotations

from collections.abc import Hashable

from bake.errors import DefinitionError, SourceRange


class InProgress:
    """Keys under evaluation. Entering a key that is already in progress is a cycle: the error
    ``message`` at ``rng``. Callers ``leave`` in a ``finally``."""

    __slots__ = ("_keys",)

    def __init__(self) -> None:
        self._keys: set[Hashable] = set()

    def enter(self, key: Hashable, message: str, rng: SourceRange | None) -> None:
        if key in self._keys:
            raise DefinitionError(message, rng=rng)
        self._keys.add(key)

    def leave(self, key: Hashable) -> None:
        self._keys.discard(key)
