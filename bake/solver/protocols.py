"""The two contracts of the solver: the vertices it schedules and the backend that runs them.

The solver knows a vertex only as something with inputs, a progress name, a source location and
an ``ignore_cache`` flag; everything else (its identity, what its cache key reads, how it runs) it asks the backend.
A result is an opaque string (the worker's snapshot id), so the persistent cache can hold it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Protocol, TypeVar

from bake._record import record


class Vertex(Protocol):
    @property
    def inputs(self) -> Sequence[Vertex]: ...

    @property
    def name(self) -> str: ...

    @property
    def ignore_cache(self) -> bool: ...

    @property
    def location(self) -> str:
        """Where the vertex was defined (``Dockerfile:12``), for errors; may be empty."""
        ...


V = TypeVar("V", bound=Vertex, contravariant=True)

Log = Callable[[bytes], None]


@record
class Salt:
    """What a vertex's cache key reads beyond its own definition and its inputs' keys: the resolved
    digest of an image, the checksum of the context files a copy selects. ``replaces`` lists inputs
    whose key the salt stands in for (a copy from a context depends on the files it selects, not on
    the whole context)."""

    text: str = ""
    replaces: frozenset[int] = frozenset()


class Backend(Protocol[V]):
    """Answers the solver's questions about vertices and runs them.

    ``identity`` is stable across runs and equal for equal vertices (the graph digest). ``salt`` may
    do I/O but must not run the op (resolve a tag, hash files). ``execute`` runs the op on its
    inputs' results, streaming output to ``log``, and returns the result; ``usable`` says whether a
    result remembered by the cache still exists. ``resource`` names the capacity the op needs
    (``exec``, ``fetch``…): each has its own parallelism limit."""

    def identity(self, v: V) -> str: ...

    async def salt(self, v: V) -> Salt: ...

    async def execute(self, v: V, inputs: Sequence[str], log: Log) -> str: ...

    def usable(self, result: str) -> bool: ...

    def resource(self, v: V) -> str: ...


class Cache(Protocol):
    """Cache key → result; persistent implementations must never expose a half-written entry."""

    def get(self, key: str) -> str | None: ...

    def put(self, key: str, result: str) -> None: ...


class RemoteCache(Protocol):
    """Results another machine exported (``cache-from``): ``fetch`` makes the result for ``key``
    available here (downloading and unpacking what it needs) or answers None."""

    async def fetch(self, key: str) -> str | None: ...


class Locks(Protocol):
    """Mutual exclusion per cache key among every solver sharing one cache, other processes included.

    ``hold(key, waiting)`` enters once no other holder of ``key`` remains, calling ``waiting()`` first
    if it has to wait; leaving releases. The solver holds a key from a cache miss until the result is
    stored, so a waiter that enters finds the holder's result in the cache. A holder that dies at any
    moment (even killed) must release, the wait must be cancellable and must not block the event
    loop. The solver only ever waits, while holding a key, for keys of that vertex's inputs (a
    strict order along the graph), so an implementation must never make one key wait for an
    unrelated one (no striping of keys over a fixed set of locks)."""

    def hold(self, key: str, waiting: Callable[[], None]) -> AbstractAsyncContextManager[None]: ...
