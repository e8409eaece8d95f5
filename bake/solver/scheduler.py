"""Solve many roots as one graph: each vertex once, concurrently, through the cache.

For a vertex the solver first computes its cache key (salt + the inputs' keys; nothing runs; the
``KeyPlan`` it is given may know it already), then asks the cache. On a hit the inputs are never
needed, so a fully cached build runs nothing and fetches nothing. On a miss it solves the inputs concurrently, waits for capacity of the vertex's
resource, runs it and records the result under the key. Keys, results and executions are memoised
per vertex identity through singleflight, so a vertex shared by several targets runs once.

Across solvers sharing the cache (other bake processes on the same root) a miss takes the key's
lock (``Locks``) and looks again: a solver that waited for another's lock finds that solver's
result stored and uses it, so a step shared by concurrent builds runs once. The lock is held from
the miss until the result is stored, and a holder only waits for its inputs' keys, so the waits
follow the graph towards its sources and can never form a cycle.

Failure: by default the first failed root cancels the rest (containers are stopped by the backend's
own cancellation handling); with ``keep_going`` every root that does not need the failed vertex
still completes, and each failed root reports the error of the step that failed.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Generic, TypeVar

import anyio
import anyio.abc

from bake.errors import BakeError, StepError
from bake.progress.events import (
    Built,
    Cached,
    Completed,
    Logged,
    Noted,
    Planned,
    Sink,
    Started,
    Step,
    discard,
)
from bake.solver.cachekey import executed_key
from bake.solver.flight import Cancelled, Flight
from bake.solver.keyplan import KeyPlan
from bake.solver.locks import NoLocks
from bake.solver.outcome import CancelledError, Outcome
from bake.solver.protocols import Backend, Cache, Locks, RemoteCache, V

T = TypeVar("T")


class Solver(Generic[V]):
    def __init__(self, backend: Backend[V], cache: Cache, sink: Sink = discard,
                 limits: Mapping[str, int] | None = None, keep_going: bool = False,
                 clock: Callable[[], float] = time.time, remote: RemoteCache | None = None,
                 locks: Locks | None = None, keys: KeyPlan[V] | None = None) -> None:
        self.backend = backend
        self.plan: KeyPlan[V] = keys if keys is not None else KeyPlan(backend.identity)
        self.cache = cache
        self.locks: Locks = locks or NoLocks()
        self.remote = remote
        self.sink = sink
        self.keep_going = keep_going
        self.clock = clock
        self.limiters = {name: anyio.CapacityLimiter(n) for name, n in (limits or {}).items()}
        self.steps: dict[str, Step] = {}
        self.ran: set[str] = set()
        self.hits: set[str] = set()

    async def solve(self, roots: Sequence[tuple[str, V | None]]) -> list[Outcome]:
        """Solve every root (label, vertex); a None vertex is an empty filesystem."""
        needs = [self._walk(v) if v is not None else [] for _, v in roots]
        owners: dict[str, list[str]] = {}
        for (label, _), ids in zip(roots, needs, strict=True):
            for i in ids:
                owners.setdefault(i, []).append(label)
        self.owners = {k: tuple(v) for k, v in owners.items()}
        limits = tuple((name, int(lim.total_tokens)) for name, lim in self.limiters.items())
        self.sink(Planned(tuple(label for label, _ in roots), len(owners), self.clock(), tuple(len(n) for n in needs),
                          limits))
        done: dict[int, Outcome] = {}
        async with anyio.create_task_group() as tg:
            self.bases: Flight[str] = Flight(tg)
            self.keys: Flight[str] = Flight(tg)
            self.results: Flight[str] = Flight(tg)
            for n, (label, v) in enumerate(roots):
                tg.start_soon(self._root, tg, n, label, v, done)
        out = []
        for n, (label, _) in enumerate(roots):
            o = done.get(n) or Outcome(label, None, CancelledError(f"{label}: cancelled because another target failed"))
            ids = needs[n]
            out.append(Outcome(o.label, o.result, o.error, sum(i in self.ran for i in ids), sum(i in self.hits for i in ids)))
        return out

    def _walk(self, root: V) -> list[str]:
        seen: dict[str, None] = {}
        stack: list[V] = [root]
        while stack:
            v = stack.pop()
            i = self.backend.identity(v)
            if i not in seen:
                seen[i] = None
                stack.extend(v.inputs)  # type: ignore[arg-type]
        return list(seen)

    async def _root(self, tg: anyio.abc.TaskGroup, n: int, label: str, v: V | None, done: dict[int, Outcome]) -> None:
        if v is None:
            done[n] = Outcome(label, None)
            self.sink(Built(label, self.clock()))
            return
        try:
            done[n] = Outcome(label, await self.result(v))
            self.sink(Built(label, self.clock()))
        except BakeError as err:
            done[n] = Outcome(label, None, err)
            self.sink(Built(label, self.clock(), err.message))
            if not self.keep_going:
                tg.cancel_scope.cancel()
        except Cancelled:
            return

    # --- keys ------------------------------------------------------------------------------------

    async def base_key(self, v: V) -> str:
        """The key under which the vertex's result is cached."""
        return await self.bases.do(self.backend.identity(v), lambda: self._base_key(v))

    async def _base_key(self, v: V) -> str:
        known = self.plan.base(v)
        if known is not None:
            return known
        salt = self.plan.salt(v)
        if salt is None:
            salt = await self._guard(v, self.backend.salt(v))
        inputs: list[V] = list(v.inputs)  # type: ignore[arg-type]
        keys = await _gather([(lambda i=i: self.key(i)) if n not in salt.replaces else _none  # type: ignore[misc]
                              for n, i in enumerate(inputs)])
        return self.plan.add(v, salt, keys)

    @property
    def keys_of(self) -> dict[str, str]:
        """identity → base key, of every vertex whose key was computed."""
        return self.plan.bases

    async def key(self, v: V) -> str:
        """The key dependents build theirs from: the base key, or for a vertex that must run
        regardless of the cache, a key naming this run's result."""
        return await self.keys.do(self.backend.identity(v), lambda: self._key(v))

    async def _key(self, v: V) -> str:
        base = await self.base_key(v)
        return executed_key(base, await self.result(v)) if v.ignore_cache else base

    # --- results ---------------------------------------------------------------------------------

    async def result(self, v: V) -> str:
        return await self.results.do(self.backend.identity(v), lambda: self._result(v))

    async def _result(self, v: V) -> str:
        key = await self.base_key(v)
        if v.ignore_cache:
            return await self._build(v, key)
        hit = self._local(key)
        if hit is None:
            async with self.locks.hold(key, lambda: self._waiting(v)):
                hit = self._local(key)  # stored by the holder we waited for
                if hit is None and self.remote is not None:
                    hit = await self._guard(v, self.remote.fetch(key))
                    if hit is not None and self.backend.usable(hit):
                        self.cache.put(key, hit)
                    else:
                        hit = None
                if hit is None:
                    return await self._build(v, key)
        self.hits.add(self.backend.identity(v))
        self.sink(Cached(self._step(v), self.clock()))
        return hit

    def _local(self, key: str) -> str | None:
        hit = self.cache.get(key)
        return hit if hit is not None and self.backend.usable(hit) else None

    def _waiting(self, v: V) -> None:
        self.sink(Noted(f"{self._step(v).name}: waiting for another build on this root, which is running it",
                        self.clock()))

    async def _build(self, v: V, key: str) -> str:
        """Solve the inputs, run the vertex and store its result (the caller holds its key's lock)."""
        inputs: list[V] = list(v.inputs)  # type: ignore[arg-type]
        results = await _gather([lambda i=i: self.result(i) for i in inputs])  # type: ignore[misc]
        limiter = self.limiters.get(self.backend.resource(v))
        if limiter is None:
            result = await self._execute(v, results)
        else:
            async with limiter:
                result = await self._execute(v, results)
        self.cache.put(key, result)
        return result

    async def _execute(self, v: V, inputs: list[str]) -> str:
        step = self._step(v)
        self.sink(Started(step, self.clock()))

        def log(data: bytes) -> None:
            self.sink(Logged(step, data, self.clock()))

        try:
            result = await self._guard(v, self.backend.execute(v, inputs, log))
        except StepError as err:
            self.sink(Completed(step, self.clock(), err.reason))
            raise
        except BaseException:
            self.sink(Completed(step, self.clock(), "cancelled"))
            raise
        self.ran.add(step.digest)
        self.sink(Completed(step, self.clock()))
        return result

    async def _guard(self, v: V, work: Awaitable[T]) -> T:
        """Errors of the vertex's own work name the vertex and the targets needing it."""
        try:
            return await work
        except StepError as err:
            err.targets = err.targets or self._step(v).targets
            err.source = err.source or v.location
            raise
        except (BakeError, OSError) as err:
            reason = err.message if isinstance(err, BakeError) else str(err)
            raise StepError(v.name, reason, self._step(v).targets, source=v.location) from err

    def _step(self, v: V) -> Step:
        """The progress step of ``v``, with its source location and (once known) its cache key."""
        ident = self.backend.identity(v)
        step = self.steps.get(ident)
        if step is None:
            step = Step(ident, v.name, self.owners.get(ident, ()), v.location, self.plan.bases.get(ident, ""))
            if step.key:  # a step made before its key is known is made again once it is
                self.steps[ident] = step
        return step


async def _none() -> None:
    return None


async def _gather(work: Sequence[Callable[[], Awaitable[T]]]) -> list[T]:
    """Run concurrently; the first error cancels the other waits (never shared work) and is raised."""
    if len(work) == 1:
        return [await work[0]()]
    results: list[T | None] = [None] * len(work)
    errors: list[Exception] = []

    async def one(n: int, fn: Callable[[], Awaitable[T]], tg: anyio.abc.TaskGroup) -> None:
        try:
            results[n] = await fn()
        except Exception as err:  # re-raised below, unwrapped
            errors.append(err)
            tg.cancel_scope.cancel()

    async with anyio.create_task_group() as tg:
        for n, fn in enumerate(work):
            tg.start_soon(one, n, fn, tg)
    if errors:
        raise errors[0]
    return results  # type: ignore[return-value]
