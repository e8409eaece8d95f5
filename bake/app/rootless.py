"""Building as an ordinary user: the work runs in a child process that is root in a user namespace.

``bake`` as root builds in its own process. Otherwise ``build`` and ``prune`` fork a child (its
modules already imported: no interpreter starts); the child unshares a user and a mount namespace, the
parent writes its id maps (``worker.userns``), and the child — now root there — runs the very
same code. Progress events, the result and a ``BakeError`` come back over a pipe as pickles, so
the caller sees what it would have seen in-process. A build that is fully cached with its outputs
in place never gets here: the parent answers it (``app/outside.py``). The child has a process
group of its own: the parent passes each Ctrl-C on, then waits for it to take its containers and
mounts down and relays its last events before raising ``KeyboardInterrupt`` itself.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import signal
import struct
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from typing import Any, BinaryIO

from bake.errors import BakeError
from bake.worker import userns
from bake.worker.errors import RootlessError


@contextlib.contextmanager
def _interrupts_forwarded(pid: int) -> Iterator[list[int]]:
    """Meanwhile each SIGINT (Ctrl-C) is passed on to ``pid`` and counted in the list yielded, not
    raised here — the child stops its build as bake does in-process, and its last events (steps
    CANCELED) still arrive. Only the main thread may do this; elsewhere SIGINT raises as usual."""
    count: list[int] = []
    if threading.current_thread() is not threading.main_thread():
        yield count
        return

    def forward(signum: int, frame: object) -> None:
        count.append(signum)
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGINT)

    previous = signal.signal(signal.SIGINT, forward)
    try:
        yield count
    finally:
        signal.signal(signal.SIGINT, previous)


def needed() -> bool:
    """Whether this process must hand the work to a user-namespace child."""
    return os.geteuid() != 0


def run(function: str, args: tuple[Any, ...]) -> Any:
    """``function`` (``module:name`` under ``bake.app``) here when root, else in a user-namespace child."""
    if needed():
        return call(function, args)
    import importlib

    module, _, name = function.partition(":")
    return getattr(importlib.import_module(f"bake.app.{module}"), name)(*args)


def call(function: str, args: tuple[Any, ...], sink: Callable[[Any], None] | None = None) -> Any:
    """``function`` (``module:name`` under ``bake.app``) called with ``args`` in the child; its
    ``sink`` argument, if ``sink`` is given, relays progress events back to ``sink``."""
    return Child(function).call(args, sink)


class Child:
    """The user-namespace child for ``function`` (``module:name`` under ``bake.app``), started at
    once: while the caller finds out whether it is needed at all (``app/outside.py``), it starts
    its interpreter and imports ``function``'s module. Then ``call`` it, or ``dismiss`` it."""

    def __init__(self, function: str) -> None:
        self.maps = userns.plan_maps()  # user namespaces off: an error before anything starts
        to_child_r, to_child_w = os.pipe()
        from_child_r, from_child_w = os.pipe()
        self.process = _fork(to_child_r, from_child_w)
        os.close(to_child_r)
        os.close(from_child_w)
        self.out = os.fdopen(to_child_w, "wb")
        self.inp = os.fdopen(from_child_r, "rb")
        with contextlib.suppress(BrokenPipeError):  # it died at once: call() says so, dismiss() need not
            _send(self.out, ("start", self.maps, function))

    def call(self, args: tuple[Any, ...], sink: Callable[[Any], None] | None = None) -> Any:
        """The function's result (or its ``BakeError``), called with ``args`` in the namespace; with
        ``sink``, its last argument relays progress events to ``sink``."""
        child = self.process
        stopped = False
        try:
            with _interrupts_forwarded(child.pid) as interrupts:
                if _receive(self.inp) != ("unshared",):
                    raise RootlessError("the build's child process did not start")
                userns.map_ids(child.pid, self.maps)
                _send(self.out, ("call", args, sink is not None))
                while True:
                    message = _receive(self.inp)
                    if message is None or message[0] == "interrupted":
                        stopped = True
                        if interrupts or message is not None:
                            raise KeyboardInterrupt
                        raise RootlessError(f"the build's child process ended unexpectedly (status {child.wait()})")
                    kind = message[0]
                    if kind == "event" and sink is not None:
                        sink(message[1])
                    elif kind == "result":
                        return message[1]
                    elif kind == "error":
                        raise _rebuild(message[1], message[2])
        except KeyboardInterrupt:
            if not stopped:  # off the main thread, Ctrl-C raised here: pass it on
                with contextlib.suppress(ProcessLookupError):
                    child.send_signal(signal.SIGINT)
            raise
        finally:
            self._close()
            child.wait()

    def dismiss(self) -> None:
        """Not needed after all: it reads the end of its pipe and exits by itself (not waited for:
        the caller need not pay for its start-up a second time)."""
        self._close()

    def _close(self) -> None:
        for stream in (self.out, self.inp):
            with contextlib.suppress(OSError):
                stream.close()


def _send(stream: BinaryIO, message: object) -> None:
    data = pickle.dumps(message)
    stream.write(struct.pack("!Q", len(data)) + data)
    stream.flush()


def _receive(stream: BinaryIO) -> Any:
    head = stream.read(8)
    if len(head) < 8:
        return None
    (size,) = struct.unpack("!Q", head)
    return pickle.loads(stream.read(size))


def _flatten(err: BakeError) -> tuple[type[BakeError], dict[str, Any]]:
    """An error as its class and fields (BakeErrors take varied arguments: not picklable as is)."""
    fields = {k: v for k, v in vars(err).items() if not k.startswith("__")}
    if "failures" in fields:  # BuildFailed: its errors flattened too
        fields["failures"] = tuple((name, _flatten(e)) for name, e in fields["failures"])
    return type(err), fields


def _rebuild(cls: type[BakeError], fields: dict[str, Any]) -> BakeError:
    err = cls.__new__(cls)
    if "failures" in fields:
        fields = {**fields, "failures": tuple((name, _rebuild(*e)) for name, e in fields["failures"])}
    err.__dict__.update(fields)
    Exception.__init__(err, fields.get("message", ""))
    return err


def _unmapped_id(err: BaseException) -> bool:
    """Whether ``err`` came from giving a file an owner the id map lacks (EINVAL from chown)."""
    seen: BaseException | None = err
    while seen is not None:
        if isinstance(seen, OSError) and seen.errno == 22:
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def _child(inp: BinaryIO, out: BinaryIO) -> int:
    import importlib

    start = _receive(inp)
    if start is None:
        return 0  # dismissed before it began
    _, maps, function = start
    module, _, name = function.partition(":")
    target = getattr(importlib.import_module(f"bake.app.{module}"), name)  # as the user: before unsharing
    userns.unshare()
    try:
        _send(out, ("unshared",))
    except BrokenPipeError:
        return 0  # dismissed meanwhile
    call = _receive(inp)
    if call is None:
        return 0  # dismissed: the parent answered by itself
    _, args, relay = call
    userns.become_root(maps)
    if relay:
        args = (*args, lambda event: _send(out, ("event", event)))
    try:
        from bake.errors import ungrouped

        with ungrouped():
            result = target(*args)
    except KeyboardInterrupt:  # passed on by the parent: the build has stopped, its mounts are down
        with contextlib.suppress(KeyboardInterrupt, BrokenPipeError):  # a second Ctrl-C: stopping already
            _send(out, ("interrupted",))
        return 130
    except BakeError as err:
        if not maps.full and _unmapped_id(err):
            err.message += "; " + userns.missing_range_hint(maps)
            err.args = (err.message,)
        _send(out, ("error", *_flatten(err)))
        return 1
    _send(out, ("result", result))
    return 0


class _Forked:
    """The child: a fork of this process, so its modules are imported already (a new interpreter
    would spend ~0.15 s importing them again)."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.status: int | None = None

    def wait(self) -> int:
        if self.status is None:
            try:
                self.status = os.waitstatus_to_exitcode(os.waitpid(self.pid, 0)[1])
            except ChildProcessError:
                self.status = 0
        return self.status

    def send_signal(self, signum: int) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, signum)


def _fork(to_child_r: int, from_child_w: int) -> _Forked:
    """Fork the child, which serves ``_child`` over the two pipes and exits. No thread of this
    process holds a lock it needs: it is made before the build's event loop starts. It gets a process
    group of its own (Ctrl-C reaches the parent only, which passes each on, once, while the child
    builds; a child dismissed unused never sees one), stdin on /dev/null, no other descriptor of this
    process, and the signal dispositions of a new interpreter."""
    for stream in (sys.stdout, sys.stderr):  # nothing buffered here is written twice
        with contextlib.suppress(OSError, ValueError):
            stream.flush()
    interrupt = signal.getsignal(signal.SIGINT)
    pid = os.fork()
    if pid:
        return _Forked(pid)
    code = 1
    try:
        os.setpgid(0, 0)
        signal.signal(signal.SIGINT, signal.SIG_IGN if interrupt == signal.SIG_IGN else signal.default_int_handler)
        for signum in (signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT, signal.SIGCHLD, signal.SIGPIPE):
            signal.signal(signum, signal.SIG_DFL)
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        low, high = sorted((to_child_r, from_child_w))
        os.closerange(3, low)
        os.closerange(low + 1, high)
        os.closerange(high + 1, 1 << 20)
        inp, out = os.fdopen(to_child_r, "rb"), os.fdopen(from_child_w, "wb")
        code = _serve(inp, out)
    finally:
        os._exit(code)


def _serve(inp: BinaryIO, out: BinaryIO) -> int:
    """The child's whole life: ``_child``, a ``BakeError`` sent back if it escapes, the pipes closed."""
    try:
        return _child(inp, out)
    except BakeError as err:
        with contextlib.suppress(BrokenPipeError):
            _send(out, ("error", *_flatten(err)))
        return 1
    finally:
        for stream in (out, inp):
            with contextlib.suppress(OSError):  # a dismissed child's parent has stopped reading
                stream.close()


def execute(command: list[str]) -> int:
    """Run ``command`` (in the child: as root in the user namespace); its exit status."""
    return subprocess.run(command).returncode


if __name__ == "__main__" and sys.argv[1:2] == ["--"]:
    # python -m bake.app.rootless -- CMD...: CMD as root in a user namespace, as builds run
    # (tests of the worker run this way for the rootless pass of CI)
    try:
        sys.exit(run("rootless:execute", (sys.argv[2:],)))
    except BakeError as _err:
        sys.stderr.write(f"ERROR: {_err}\n")
        sys.exit(1)
