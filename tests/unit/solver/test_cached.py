"""The all-cached check: the scheduler's keys, computed without an event loop."""

from __future__ import annotations

from pathlib import Path

import anyio

from bake.progress.events import Built, Cached, Event, Planned
from bake.solver.cache import DirCache
from bake.solver.cached import all_cached
from bake.solver.keyplan import KeyPlan
from bake.solver.protocols import Salt
from bake.solver.scheduler import Solver
from tests.unit.solver.test_scheduler import BASE, SHARED, FakeBackend, V


def check(backend: FakeBackend, roots: list[tuple[str, V | None]], cache: DirCache,
          events: list[Event] | None = None) -> list | None:
    def salt(v: V) -> Salt | None:
        return anyio.run(backend.salt, v)

    return all_cached(roots, KeyPlan(backend.identity), salt, cache, backend.usable,
                      events.append if events is not None else (lambda e: None))


def test_after_a_solve_every_root_is_recognised_as_cached_with_the_same_results(tmp_path: Path) -> None:
    cache = DirCache(str(tmp_path))
    roots: list[tuple[str, V | None]] = [("a", V("a", (SHARED,))), ("b", V("b", (SHARED, BASE))), ("empty", None)]
    solved = anyio.run(Solver(FakeBackend(salts={"base": "image@sha256:1"}), cache).solve, roots)
    events: list[Event] = []
    again = check(FakeBackend(salts={"base": "image@sha256:1"}), roots, cache, events)
    assert again is not None and [o.result for o in again] == [o.result for o in solved]
    assert [type(e) for e in events] == [Planned, Cached, Cached, Built, Built, Built]


def test_anything_not_provably_cached_answers_none(tmp_path: Path) -> None:
    cache = DirCache(str(tmp_path))
    roots: list[tuple[str, V | None]] = [("a", V("a", (SHARED,)))]
    assert check(FakeBackend(), roots, cache) is None  # nothing solved yet
    first = anyio.run(Solver(FakeBackend(), cache).solve, roots)
    assert check(FakeBackend(salts={"base": "moved"}), roots, cache) is None  # an input changed

    class Online(FakeBackend):
        async def salt(self, v: V) -> Salt | None:  # type: ignore[override]
            return None if v.name == "base" else Salt()

    assert check(Online(), roots, cache) is None  # only the network could tell
    assert check(FakeBackend(gone={first[0].result}), roots, cache) is None  # its snapshot is gone
    assert check(FakeBackend(), [("a", V("a", (V("shared", (BASE,), ignore_cache=True),)))], cache) is None
