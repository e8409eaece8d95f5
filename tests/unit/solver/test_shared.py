"""Solvers sharing one cache and one set of key locks (as bake processes on one root do): a step
they all need runs once, in whichever got its lock first, and the others use its stored result."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field

import anyio
import pytest

from bake.errors import StepError
from bake.progress.events import Cached, Event, Noted, Started
from bake.solver.cache import MemoryCache
from bake.solver.locks import NoLocks
from bake.solver.outcome import Outcome
from bake.solver.protocols import Locks, Log
from bake.solver.scheduler import Solver
from tests.unit.solver.test_scheduler import BASE, SHARED, FakeBackend, V


@dataclass
class FakeLocks:
    """One in-memory lock per key; records which keys were held and which had to be waited for."""

    locks: dict[str, anyio.Lock] = field(default_factory=dict)
    held: list[str] = field(default_factory=list)
    waited: list[str] = field(default_factory=list)

    @contextlib.asynccontextmanager
    async def hold(self, key: str, waiting: Callable[[], None]) -> AsyncIterator[None]:
        lock = self.locks.setdefault(key, anyio.Lock())
        if lock.locked():
            self.waited.append(key)
            waiting()
        async with lock:
            self.held.append(key)
            yield


@dataclass
class FailingOnce(FakeBackend):
    """Its first execution of ``shared`` fails; later ones succeed."""

    failed: bool = False

    async def execute(self, v: V, inputs: Sequence[str], log: Log) -> str:
        if v.name == "shared" and not self.failed:
            self.failed = True
            self.runs["shared"] = self.runs.get("shared", 0) + 1
            await anyio.sleep(0.05)
            raise StepError("shared", "exit code: 1", exit_code=1)
        return await super().execute(v, inputs, log)


def together(backend: FakeBackend, locks: Locks, *roots: V, events: list[list[Event]] | None = None,
             cache: MemoryCache | None = None) -> list[Outcome]:
    """Solve each root in a solver of its own, all at once, sharing the backend, cache and locks."""
    shared_cache = cache if cache is not None else MemoryCache()
    sinks = events if events is not None else [[] for _ in roots]
    out: list[Outcome] = []

    async def one(n: int, root: V) -> None:
        solver = Solver(backend, shared_cache, sinks[n].append, locks=locks)
        out.extend(await solver.solve([(root.name, root)]))

    async def main() -> None:
        async with anyio.create_task_group() as tg:
            for n, root in enumerate(roots):
                tg.start_soon(one, n, root)

    anyio.run(main)
    return sorted(out, key=lambda o: o.label)


LEAVES = [V(name, (SHARED,)) for name in "abcd"]


def test_a_step_needed_by_four_solvers_at_once_runs_once() -> None:
    b = FakeBackend(delay={"shared": 0.2})
    locks = FakeLocks()
    events: list[list[Event]] = [[] for _ in LEAVES]
    out = together(b, locks, *LEAVES, events=events)
    assert b.runs == {"base": 1, "shared": 1, "a": 1, "b": 1, "c": 1, "d": 1}
    assert [o.result for o in out] == [f"{n}#1(shared#1(base#1()))" for n in "abcd"]
    ran = [[e.step.name for e in es if isinstance(e, Started)] for es in events]
    given = [[e.step.name for e in es if isinstance(e, Cached)] for es in events]
    assert sorted(r.count("shared") for r in ran) == [0, 0, 0, 1]
    assert sorted(g.count("shared") for g in given) == [0, 1, 1, 1]
    assert len(locks.waited) >= 3  # the three that did not run it waited for the one that did
    notes = [e.text for es in events for e in es if isinstance(e, Noted)]
    assert notes and all("waiting for another build on this root" in t for t in notes)


def test_without_shared_locks_each_solver_runs_the_step_itself() -> None:
    """What the locks are for: the in-process singleflight does not span solvers."""
    b = FakeBackend(delay={"shared": 0.2})
    together(b, NoLocks(), *LEAVES)
    assert b.runs["shared"] == 4


def test_the_lock_is_held_only_after_a_miss() -> None:
    cache = MemoryCache()
    together(FakeBackend(), FakeLocks(), LEAVES[0], cache=cache)
    locks = FakeLocks()
    b = FakeBackend()
    together(b, locks, LEAVES[0], cache=cache)
    assert b.runs == {} and locks.held == []


def test_a_holder_that_fails_lets_the_waiter_run_the_step_itself() -> None:
    b = FailingOnce(delay={"shared": 0.05})
    out = together(b, FakeLocks(), *LEAVES[:2])
    assert b.runs["shared"] == 2
    failed = [o for o in out if o.error is not None]
    built = [o for o in out if o.error is None]
    assert len(failed) == 1 and len(built) == 1
    assert built[0].result == f"{built[0].label}#1(shared#2(base#1()))"


def test_a_cancelled_waiter_leaves_the_holder_to_finish() -> None:
    b = FakeBackend(delay={"shared": 0.3})
    locks = FakeLocks()
    cache = MemoryCache()
    out: list[Outcome] = []

    async def main() -> None:
        async with anyio.create_task_group() as tg:
            tg.start_soon(lambda: _solve(Solver(b, cache, locks=locks), LEAVES[0], out))
            await anyio.sleep(0.1)
            with anyio.move_on_after(0.05):  # the second solver waits for the lock, then gives up
                await _solve(Solver(b, cache, locks=locks), LEAVES[1], out)

    anyio.run(main)
    assert [o.label for o in out] == ["a"] and out[0].error is None
    assert b.runs["shared"] == 1
    third = FakeBackend()
    together(third, locks, LEAVES[1], cache=cache)
    assert third.runs == {"b": 1}  # the lock was not left held, and the holder's result was stored


def test_a_step_that_ignores_the_cache_runs_in_every_solver_without_a_lock() -> None:
    fresh = V("shared", (BASE,), ignore_cache=True)
    b = FakeBackend()
    locks = FakeLocks()
    together(b, locks, V("a", (fresh,)), V("b", (fresh,)))
    assert b.runs["shared"] == 2
    assert b.runs["base"] == 1 and len(set(locks.held)) == 3  # the keys of base, a and b: never shared's


async def _solve(solver: Solver[V], root: V, out: list[Outcome]) -> None:
    out.extend(await solver.solve([(root.name, root)]))


@pytest.mark.parametrize("locks", [FakeLocks(), NoLocks()])
def test_a_lone_solver_runs_each_step_once_either_way(locks: Locks) -> None:
    b = FakeBackend()
    together(b, locks, V("top", (SHARED,)))
    assert b.runs == {"base": 1, "shared": 1, "top": 1}
