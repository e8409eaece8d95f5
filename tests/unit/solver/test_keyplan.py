"""One key algorithm: the keys the offline pass finds are the scheduler's, and a scheduler handed a
plan asks for no salt the plan already holds."""

from __future__ import annotations

from collections.abc import Callable

import anyio

from bake.solver.cache import MemoryCache
from bake.solver.keyplan import KeyPlan
from bake.solver.protocols import Salt
from bake.solver.scheduler import Solver
from tests.unit.solver.test_scheduler import BASE, SHARED, FakeBackend, V

APP = V("app", (SHARED, V("context")))


class Counting(FakeBackend):
    """Counts the salts the scheduler asks for."""

    asked: list[str]

    async def salt(self, v: V) -> Salt:
        self.asked = [*getattr(self, "asked", []), v.name]
        return await super().salt(v)


def offline_salt(backend: FakeBackend, online: frozenset[str] = frozenset()) -> Callable[[V], Salt | None]:
    """The backend's salts, answered synchronously; None for those named ``online``."""

    def salt(v: V) -> Salt | None:
        return None if v.name in online else anyio.run(backend.salt, v)

    return salt


def test_the_offline_keys_are_the_schedulers_keys() -> None:
    backend = FakeBackend(salts={"base": "image@sha256:1", "context": "files"}, replaces={"app": frozenset({1})})
    plan: KeyPlan[V] = KeyPlan(backend.identity)
    offline = plan.offline(APP, offline_salt(backend))
    solver = Solver(backend, MemoryCache())
    anyio.run(solver.solve, [("app", APP)])
    assert offline == solver.keys_of["app"]
    assert plan.bases.items() <= solver.keys_of.items()  # the solver adds the keys of what it had to run


def test_a_salt_the_replacing_op_stands_in_for_is_never_asked() -> None:
    backend = FakeBackend(replaces={"app": frozenset({1})})
    plan: KeyPlan[V] = KeyPlan(backend.identity)
    plan.offline(APP, offline_salt(backend))
    assert set(plan.salts) == {"app", "shared", "base"}


def test_the_scheduler_asks_only_for_the_salts_the_offline_pass_could_not_know() -> None:
    backend = Counting(salts={"base": "image@sha256:1"})
    plan: KeyPlan[V] = KeyPlan(backend.identity)
    assert plan.offline(APP, offline_salt(backend, online=frozenset({"context"}))) is None
    backend.asked = []
    solver = Solver(backend, MemoryCache(), keys=plan)
    (outcome,) = anyio.run(solver.solve, [("app", APP)])
    assert outcome.error is None
    assert backend.asked == ["context"]


def test_a_vertex_that_runs_regardless_of_the_cache_has_no_offline_key_nor_have_its_dependents() -> None:
    backend = FakeBackend()
    plan: KeyPlan[V] = KeyPlan(backend.identity)
    fresh = V("fresh", (BASE,), ignore_cache=True)
    assert plan.offline(V("after", (fresh,)), offline_salt(backend)) is None
    assert "fresh" not in plan.bases and "after" not in plan.bases


def test_a_deep_chain_needs_no_recursion() -> None:
    v = BASE
    for n in range(20_000):
        v = V(f"step{n}", (v,))
    plan: KeyPlan[V] = KeyPlan(lambda x: x.name)
    assert plan.offline(v, lambda x: Salt()) is not None
    assert len(plan.bases) == 20_001


def test_progress_steps_carry_their_location_key_and_the_limits() -> None:
    """What a build report shows of a step: where it was written and the key it is stored under."""
    from bake.progress.events import Event, Planned, Started
    from tests.unit.solver.test_scheduler import FakeBackend, V, solve

    events: list[Event] = []
    solve(FakeBackend(), [("t", V("leaf", location="Dockerfile:3"))], events=events, limits={"exec": 3})
    planned = next(e for e in events if isinstance(e, Planned))
    started = next(e for e in events if isinstance(e, Started))
    assert planned.limits == (("exec", 3),)
    assert started.step.location == "Dockerfile:3" and started.step.key.startswith("sha256:")
