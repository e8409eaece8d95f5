"""Singleflight: the first caller of a key starts the work, later callers wait for the same result.

The work runs in a task group owned by the solver, not in the caller's task, so cancelling one
waiter never cancels work that other waiters (or later callers) still need.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

import anyio
import anyio.abc

T = TypeVar("T")


class Cancelled(Exception):
    """The shared work was cancelled before it produced a result."""


class _Call(Generic[T]):
    def __init__(self) -> None:
        self.done = anyio.Event()
        self.value: T | None = None
        self.error: BaseException | None = None


class Flight(Generic[T]):
    def __init__(self, tg: anyio.abc.TaskGroup) -> None:
        self.tg = tg
        self.calls: dict[str, _Call[T]] = {}

    def started(self, key: str) -> bool:
        return key in self.calls

    async def do(self, key: str, work: Callable[[], Awaitable[T]]) -> T:
        call = self.calls.get(key)
        if call is None:
            call = self.calls[key] = _Call()
            self.tg.start_soon(self._run, call, work)
        await call.done.wait()
        if call.error is not None:
            raise call.error
        return call.value  # type: ignore[return-value]

    @staticmethod
    async def _run(call: _Call[T], work: Callable[[], Awaitable[T]]) -> None:
        try:
            call.value = await work()
        except Exception as err:  # every waiter gets the failure
            call.error = err
        except BaseException:
            call.error = Cancelled("cancelled")
            raise
        finally:
            call.done.set()
