"""Without --keep-going, the first failed solve on a BuildKit builder cancels the others (as the
embedded worker stops its running steps, and buildx its other builds); stand-in daemons of
tests/unit/app/test_remote_builds.py."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from bake.errors import StepError
from tests.unit.app.test_remote_builds import TWO, Daemon, World, bake, project, world  # noqa: F401  (world: fixture)


def test_a_failure_cancels_the_solves_still_running(tmp_path: Path, world: World,  # noqa: F811
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    import bake.buildkit.control as control

    stand_in = control.Control
    fails = stand_in.solve
    cancelled: list[str] = []

    async def slow_on_n1(self: Any, request: Any) -> Any:
        if self.node != "n1":
            return await fails(self, request)
        self.daemon.solves.append(request)
        try:
            await asyncio.sleep(20)  # a long step: only a cancellation ends it early
        except asyncio.CancelledError:
            cancelled.append(request.Ref)
            raise
        return await fails(self, request)

    monkeypatch.setattr(stand_in, "solve", slow_on_n1)
    req = project(tmp_path, TWO % '  output = ["type=local,dest=out"]\n', world,
                  ("n0", Daemon(("linux/amd64",), fail="exit code: 1")), ("n1", Daemon(("linux/arm64",))))
    with pytest.raises(StepError):
        bake(req)
    assert len(cancelled) == 1  # the arm64 solve was cancelled, not waited for
    assert not (tmp_path / "project/out").exists()
