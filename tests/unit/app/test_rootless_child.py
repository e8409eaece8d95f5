"""The rootless child's relay protocol, both ends in this process: the parent's ``Child.call`` on
one side of two pipes, the child's loop (``rootless._child``) in a thread on the other. The user
namespace steps (unshare, id maps, becoming root) are counting stand-ins; what crosses the pipe —
the start, events, the result, errors with their fields, an interrupt, a child that ends — is real."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from bake.app import rootless
from bake.errors import StepError
from bake.worker import userns
from bake.worker.errors import RootlessError, UnsafeArchiveError
from bake.worker.userns import IdMaps

MAPS = IdMaps(((0, 1000, 1),), ((0, 1000, 1),), False)  # no subordinate ranges: the user's own id only


class Namespace:
    """Counts the user-namespace steps each side takes."""

    def __init__(self) -> None:
        self.unshared = 0
        self.mapped: list[tuple[int, IdMaps]] = []
        self.became: list[IdMaps] = []


@pytest.fixture
def ns(monkeypatch: pytest.MonkeyPatch) -> Namespace:
    seen = Namespace()

    def unshare() -> None:
        seen.unshared += 1

    monkeypatch.setattr(userns, "unshare", unshare)
    monkeypatch.setattr(userns, "map_ids", lambda pid, maps: seen.mapped.append((pid, maps)))
    monkeypatch.setattr(userns, "become_root", seen.became.append)
    return seen


class Process:
    """Stands in for the child's ``Popen``: the thread running ``_child``, its exit status once done."""

    def __init__(self, run: Callable[[], int]) -> None:
        self.pid = 4242
        self.status: int | None = None
        self.signals: list[int] = []
        self.thread = threading.Thread(target=self._main, daemon=True)
        self.run = run
        self.thread.start()

    def _main(self) -> None:
        self.status = self.run()

    def wait(self) -> int | None:
        self.thread.join(10)
        return self.status

    def send_signal(self, signum: int) -> None:
        self.signals.append(signum)


def started(function: str, child: Callable[[Any, Any], int] = rootless._child) -> tuple[rootless.Child, Process]:
    """A ``Child`` for ``function`` whose other end runs ``child`` in a thread (as the process would)."""
    to_child_r, to_child_w = os.pipe()
    from_child_r, from_child_w = os.pipe()
    inp, out = os.fdopen(to_child_r, "rb"), os.fdopen(from_child_w, "wb")

    def run() -> int:
        try:
            return child(inp, out)
        finally:
            for stream in (out, inp):
                with contextlib.suppress(OSError):  # as the process's own exit: the parent may have gone
                    stream.close()

    c = rootless.Child.__new__(rootless.Child)
    c.maps = MAPS
    c.out = os.fdopen(to_child_w, "wb")
    c.inp = os.fdopen(from_child_r, "rb")
    rootless._send(c.out, ("start", MAPS, function))
    c.process = Process(run)  # type: ignore[assignment]
    return c, c.process  # type: ignore[return-value]


@pytest.fixture
def target(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[Callable[..., Any]], str]]:
    """Installs a function under ``bake.app.rootless`` for the child to import; its ``module:name``."""
    def install(fn: Callable[..., Any]) -> str:
        monkeypatch.setattr(rootless, "_under_test", fn, raising=False)
        return "rootless:_under_test"

    yield install


def test_events_then_the_result_come_back_and_each_namespace_step_runs_once(
        ns: Namespace, target: Callable[[Callable[..., Any]], str]) -> None:
    def build(a: int, b: int, sink: Callable[[object], None]) -> dict[str, int]:
        sink(("started", a))
        sink(("done", b))
        return {"sum": a + b}

    child, process = started(target(build))
    events: list[object] = []
    assert child.call((2, 3), events.append) == {"sum": 5}
    assert events == [("started", 2), ("done", 3)]
    assert (ns.unshared, ns.mapped, ns.became) == (1, [(4242, MAPS)], [MAPS])
    assert process.wait() == 0


def test_without_a_sink_no_relay_argument_is_added(ns: Namespace, target: Callable[[Callable[..., Any]], str]) -> None:
    child, _ = started(target(lambda *args: len(args)))
    assert child.call(("a", "b")) == 2


def test_a_bake_error_crosses_with_its_fields(ns: Namespace, target: Callable[[Callable[..., Any]], str]) -> None:
    def fail(sink: Callable[[object], None]) -> None:
        sink("before")
        raise StepError("[1/2] RUN make", "exit code: 2", ("app",), ("cc: error",), 2, "Dockerfile:3")

    child, process = started(target(fail))
    events: list[object] = []
    with pytest.raises(StepError) as info:
        child.call((), events.append)
    err = info.value
    assert (err.step, err.targets, err.output, err.exit_code, err.source) == (
        "[1/2] RUN make", ("app",), ("cc: error",), 2, "Dockerfile:3")
    assert events == ["before"] and process.wait() == 1


def test_an_owner_the_id_map_lacks_gets_the_fix_named(ns: Namespace, target: Callable[[Callable[..., Any]], str]) -> None:
    def unpack() -> None:
        try:
            raise OSError(22, "Invalid argument")
        except OSError as e:
            raise UnsafeArchiveError("cannot extract home/app: Invalid argument") from e

    child, _ = started(target(unpack))
    with pytest.raises(UnsafeArchiveError) as info:
        child.call(())
    assert str(info.value).startswith("cannot extract home/app: Invalid argument; ")
    assert "usermod --add-subuids" in str(info.value)


def test_an_interrupted_child_raises_keyboard_interrupt_here(
        ns: Namespace, target: Callable[[Callable[..., Any]], str]) -> None:
    def build(sink: Callable[[object], None]) -> None:
        sink("step CANCELED")
        raise KeyboardInterrupt

    child, process = started(target(build))
    events: list[object] = []
    with pytest.raises(KeyboardInterrupt):
        child.call((), events.append)
    assert events == ["step CANCELED"]  # its last events arrived first
    assert process.wait() == 130 and process.signals == []  # it stopped by itself: nothing passed on


def test_a_child_that_never_unshares_is_named(ns: Namespace) -> None:
    child, _ = started("rootless:execute", child=lambda inp, out: 3)
    with pytest.raises(RootlessError, match="did not start"):
        child.call(())
    assert ns.mapped == []


def test_a_child_that_ends_mid_build_is_named_with_its_status(ns: Namespace) -> None:
    def dies(inp: Any, out: Any) -> int:
        rootless._receive(inp)
        rootless._send(out, ("unshared",))
        rootless._receive(inp)
        return 9

    child, _ = started("rootless:execute", child=dies)
    with pytest.raises(RootlessError, match=r"ended unexpectedly \(status 9\)"):
        child.call(())


def test_a_dismissed_child_exits_quietly_before_or_after_unsharing(
        ns: Namespace, target: Callable[[Callable[..., Any]], str]) -> None:
    calls: list[object] = []
    child, process = started(target(calls.append))
    child.dismiss()
    assert process.wait() == 0 and calls == []
    r, w = os.pipe()
    os.close(w)
    with os.fdopen(r, "rb") as empty, open(os.devnull, "wb") as sink:
        assert rootless._child(empty, sink) == 0  # the parent went before sending the start


def test_as_root_run_calls_in_this_process_and_otherwise_in_a_child(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(rootless, "needed", lambda: False)
    assert rootless.run("rootless:execute", ([sys.executable, "-c", "raise SystemExit(7)"],)) == 7
    made: list[str] = []

    class Stand:
        def __init__(self, function: str) -> None:
            made.append(function)

        def call(self, args: tuple[Any, ...], sink: Callable[[Any], None] | None = None) -> Any:
            return ("called", args)

    monkeypatch.setattr(rootless, "needed", lambda: True)
    monkeypatch.setattr(rootless, "Child", Stand)
    assert rootless.run("prune:usage", ("/r",)) == ("called", ("/r",))
    assert made == ["prune:usage"]



def test_ctrl_c_while_the_child_builds_is_passed_on_and_raised_once_it_stopped(
        ns: Namespace, target: Callable[[Callable[..., Any]], str]) -> None:
    # stands in for the child's pid; not a Python process: once started, Python turns SIGINT into an exit status 1
    sleeper = subprocess.Popen(["sleep", "60"])
    before = signal.getsignal(signal.SIGINT)

    def build(sink: Callable[[object], None]) -> None:
        signal.pthread_kill(threading.main_thread().ident or 0, signal.SIGINT)  # the user's Ctrl-C reaches the parent
        sleeper.wait(30)  # the parent passed it on
        sink("step CANCELED")
        raise KeyboardInterrupt  # the build stopped

    child, process = started(target(build))
    process.pid = sleeper.pid
    events: list[object] = []
    try:
        with pytest.raises(KeyboardInterrupt):
            child.call((), events.append)
    finally:
        sleeper.kill()
        sleeper.wait()
    assert sleeper.returncode == -signal.SIGINT
    assert events == ["step CANCELED"] and process.wait() == 130
    assert signal.getsignal(signal.SIGINT) is before


def test_ctrl_c_raised_here_off_the_main_thread_is_passed_on_to_the_child(
        ns: Namespace, target: Callable[[Callable[..., Any]], str]) -> None:
    signalled = threading.Event()

    def build(sink: Callable[[object], None]) -> None:
        sink("first step")
        signalled.wait(30)
        raise KeyboardInterrupt  # the child stops when told

    child, process = started(target(build))

    def passed_on(signum: int) -> None:
        process.signals.append(signum)
        signalled.set()

    process.send_signal = passed_on  # type: ignore[method-assign]

    def interrupted(event: object) -> None:
        raise KeyboardInterrupt  # what Ctrl-C raises in a thread that is not the main one

    caught: list[BaseException] = []

    def caller() -> None:
        try:
            child.call((), interrupted)
        except KeyboardInterrupt as err:
            caught.append(err)

    t = threading.Thread(target=caller)
    t.start()
    t.join(30)
    assert len(caught) == 1 and process.signals == [signal.SIGINT] and process.wait() == 130
