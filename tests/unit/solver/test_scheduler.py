"""The solver with fake vertices: what runs, how often, and what a failure does to the rest."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import anyio
import pytest

from bake.errors import StepError
from bake.progress.events import Cached, Completed, Event, Started
from bake.solver.cache import MemoryCache
from bake.solver.flight import Flight
from bake.solver.protocols import Log, Salt
from bake.solver.scheduler import CancelledError, Solver


@dataclass(frozen=True)
class V:
    name: str
    inputs: tuple[V, ...] = ()
    ignore_cache: bool = False
    location: str = ""


@dataclass
class FakeBackend:
    """Runs vertices by name, counting executions; ``fail`` names vertices that fail, ``delay``
    seconds a vertex takes, ``salts`` what their cache keys read."""

    fail: set[str] = field(default_factory=set)
    delay: dict[str, float] = field(default_factory=dict)
    salts: dict[str, str] = field(default_factory=dict)
    replaces: dict[str, frozenset[int]] = field(default_factory=dict)
    runs: dict[str, int] = field(default_factory=dict)
    gone: set[str] = field(default_factory=set)
    running: int = 0
    most: int = 0

    def identity(self, v: V) -> str:
        return v.name

    async def salt(self, v: V) -> Salt:
        return Salt(self.salts.get(v.name, ""), self.replaces.get(v.name, frozenset()))

    async def execute(self, v: V, inputs: Sequence[str], log: Log) -> str:
        self.runs[v.name] = self.runs.get(v.name, 0) + 1
        self.running += 1
        self.most = max(self.most, self.running)
        try:
            await anyio.sleep(self.delay.get(v.name, 0.01))
            log(f"{v.name} output\n".encode())
            if v.name in self.fail:
                raise StepError(v.name, "exit code: 1", output=("boom",), exit_code=1)
        finally:
            self.running -= 1
        return f"{v.name}#{self.runs[v.name]}(" + ",".join(inputs) + ")"

    def usable(self, result: str) -> bool:
        return result not in self.gone

    def resource(self, v: V) -> str:
        return "exec"


def solve(backend: FakeBackend, roots: list[tuple[str, V | None]], cache: MemoryCache | None = None,
          events: list[Event] | None = None, **kw: object) -> list:
    solver = Solver(backend, cache if cache is not None else MemoryCache(),
                    sink=events.append if events is not None else (lambda e: None), **kw)  # type: ignore[arg-type]
    return anyio.run(solver.solve, roots)


BASE = V("base")
SHARED = V("shared", (BASE,))


def test_a_step_shared_by_targets_runs_once_and_every_target_gets_its_result() -> None:
    b = FakeBackend()
    events: list[Event] = []
    a, c = V("a", (SHARED,)), V("c", (SHARED,))
    out = solve(b, [("a", a), ("c", c), ("again", a)], events=events)
    assert b.runs == {"base": 1, "shared": 1, "a": 1, "c": 1}
    assert out[0].result == "a#1(shared#1(base#1()))" and out[2].result == out[0].result
    assert out[1].result == "c#1(shared#1(base#1()))"
    started = [e.step for e in events if isinstance(e, Started) and e.step.name == "shared"]
    assert len(started) == 1 and started[0].targets == ("a", "c", "again")
    assert [(o.executed, o.cached) for o in out] == [(3, 0), (3, 0), (3, 0)]


def test_a_cached_result_skips_the_step_and_never_needs_its_inputs() -> None:
    cache = MemoryCache()
    top = V("top", (SHARED,))
    first = solve(FakeBackend(), [("t", top)], cache)
    b = FakeBackend()
    events: list[Event] = []
    again = solve(b, [("t", top)], cache, events)
    assert b.runs == {} and again[0].result == first[0].result
    assert [e.step.name for e in events if isinstance(e, Cached)] == ["top"]
    assert (again[0].executed, again[0].cached) == (0, 1)


def test_a_changed_salt_misses_that_step_and_everything_after_it_only() -> None:
    cache = MemoryCache()
    other = V("other", (BASE,))
    solve(FakeBackend(), [("t", V("top", (SHARED,))), ("o", other)], cache)
    b = FakeBackend(salts={"shared": "context changed"})
    solve(b, [("t", V("top", (SHARED,))), ("o", other)], cache)
    assert b.runs == {"shared": 1, "top": 1}


def test_a_salt_can_stand_in_for_an_input_key() -> None:
    """A copy from a context depends on the files it selects, not on the whole context."""
    cache = MemoryCache()
    ctx = V("context")
    copy = V("copy", (BASE, ctx))
    solve(FakeBackend(replaces={"copy": frozenset({1})}, salts={"copy": "files=1"}), [("t", copy)], cache)
    b = FakeBackend(replaces={"copy": frozenset({1})}, salts={"copy": "files=1", "context": "other file changed"})
    solve(b, [("t", copy)], cache)
    assert b.runs == {}
    b = FakeBackend(replaces={"copy": frozenset({1})}, salts={"copy": "files=2"})
    solve(b, [("t", copy)], cache)
    assert b.runs == {"copy": 1}  # the context itself is as in the first run


def test_a_result_that_no_longer_exists_runs_again() -> None:
    cache = MemoryCache()
    first = solve(FakeBackend(), [("t", SHARED)], cache)
    b = FakeBackend(gone={first[0].result})
    solve(b, [("t", SHARED)], cache)
    assert b.runs == {"shared": 1}


def test_ignore_cache_runs_the_step_and_everything_after_it() -> None:
    cache = MemoryCache()
    solve(FakeBackend(), [("t", V("top", (SHARED,)))], cache)
    b = FakeBackend()
    out = solve(b, [("t", V("top", (V("shared", (BASE,), ignore_cache=True),)))], cache)
    assert b.runs == {"shared": 1, "top": 1}
    assert out[0].result == "top#1(shared#1(base#1()))"


def test_independent_steps_run_concurrently_within_the_limit() -> None:
    roots: list[tuple[str, V | None]] = [(f"t{n}", V(f"s{n}", (BASE,))) for n in range(6)]
    b = FakeBackend(delay={f"s{n}": 0.1 for n in range(6)})
    solve(b, roots)
    assert b.most == 6
    b = FakeBackend(delay={f"s{n}": 0.05 for n in range(6)})
    solve(b, roots, limits={"exec": 2})
    assert b.most == 2 and b.runs["base"] == 1


def test_the_first_failure_cancels_the_rest_and_names_the_step() -> None:
    b = FakeBackend(fail={"bad"}, delay={"slow": 30})
    events: list[Event] = []
    t0 = time.monotonic()
    out = solve(b, [("broken", V("top", (V("bad", (BASE,)),))), ("slow", V("slow"))], events=events)
    assert time.monotonic() - t0 < 10  # the 30 s sibling was stopped
    err = out[0].error
    assert isinstance(err, StepError) and err.step == "bad" and err.targets == ("broken",) and err.output == ("boom",)
    assert isinstance(out[1].error, CancelledError) and out[1].result is None
    assert "top" not in b.runs
    assert [e.error for e in events if isinstance(e, Completed) and e.step.name == "slow"] == ["cancelled"]


def test_keep_going_finishes_every_target_that_does_not_need_the_failure() -> None:
    b = FakeBackend(fail={"bad"}, delay={"slow": 0.2})
    bad = V("bad", (BASE,))
    out = solve(b, [("x", V("x", (bad,))), ("y", V("y", (bad,))), ("slow", V("slow", (BASE,)))], keep_going=True)
    assert out[0].error is out[1].error and isinstance(out[0].error, StepError)
    assert out[0].error.targets == ("x", "y")
    assert out[2].error is None and out[2].result == "slow#1(base#1())"
    assert b.runs == {"base": 1, "bad": 1, "slow": 1}


def test_errors_of_the_backend_become_step_errors() -> None:
    class Broken(FakeBackend):
        async def execute(self, v: V, inputs: Sequence[str], log: Log) -> str:
            raise OSError(28, "No space left on device")

    out = solve(Broken(), [("t", V("disk"))])
    assert isinstance(out[0].error, StepError)
    assert out[0].error.step == "disk" and "No space left" in out[0].error.reason and out[0].error.targets == ("t",)


def test_an_empty_root_is_an_empty_result() -> None:
    assert solve(FakeBackend(), [("scratch", None)])[0].result is None


def test_cancelling_a_waiter_never_cancels_the_shared_work() -> None:
    runs = []

    async def work() -> str:
        await anyio.sleep(0.1)
        runs.append(1)
        return "value"

    async def main() -> list[str]:
        got: list[str] = []
        async with anyio.create_task_group() as tg:
            flight: Flight[str] = Flight(tg)

            async def impatient() -> None:
                with anyio.move_on_after(0.01):
                    await flight.do("k", work)

            async def patient() -> None:
                got.append(await flight.do("k", work))

            tg.start_soon(impatient)
            await anyio.sleep(0)
            tg.start_soon(patient)
        got.append(await flight.do("k", work))  # a later caller gets the same result, no new run
        return got

    assert anyio.run(main) == ["value", "value"]
    assert runs == [1]


@pytest.mark.parametrize("keep_going", [False, True])
def test_a_failing_salt_is_a_step_error(keep_going: bool) -> None:
    class NoRegistry(FakeBackend):
        async def salt(self, v: V) -> Salt:
            if v.name == "base":
                raise OSError("connection refused")
            return Salt()

    out = solve(NoRegistry(), [("t", SHARED)], keep_going=keep_going)
    assert isinstance(out[0].error, StepError) and out[0].error.step == "base"


def test_a_remote_cache_hit_is_fetched_once_and_needs_no_inputs() -> None:
    from bake.solver.cachekey import cache_key

    top = V("top", (SHARED,))
    shared_key = cache_key("shared", Salt(), [cache_key("base", Salt(), [])])
    top_key = cache_key("top", Salt(), [shared_key])

    class Remote:
        def __init__(self) -> None:
            self.asked: list[str] = []

        async def fetch(self, key: str) -> str | None:
            self.asked.append(key)
            return "restored-top" if key == top_key else None

    remote = Remote()
    b = FakeBackend()
    cache = MemoryCache()
    out = anyio.run(Solver(b, cache, remote=remote).solve, [("t", top), ("again", top)])
    assert [o.result for o in out] == ["restored-top", "restored-top"] and b.runs == {}
    assert remote.asked == [top_key] and cache.data[top_key] == "restored-top"
