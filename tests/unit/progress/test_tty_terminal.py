"""The tty renderer and the terminal it draws on: while the view is live, the terminal does not
echo control keys as ``^C`` (the echo would wrap the view's last line and leave its header behind
when the view is redrawn or cleared); the terminal's own settings come back when the view closes.
The whole story, with a real build and Ctrl-C, is tests/integration/test_tty_cancel.py."""

from __future__ import annotations

import io
import os
import pty
import termios
from collections.abc import Iterator

import pytest

from bake.progress.events import Completed, Planned, Started, Step
from bake.progress.tty import TTYProgress

STEP = Step("sha256:" + "a" * 64, "[1/1] RUN sleep 60", ("default",))


@pytest.fixture
def terminal() -> Iterator[int]:
    """A pseudo-terminal: the side a program writes to (the controller stays open meanwhile)."""
    controller, side = pty.openpty()
    yield side
    os.close(controller)
    os.close(side)


def echoes_control_keys(fd: int) -> bool:
    return bool(termios.tcgetattr(fd)[3] & termios.ECHOCTL)


def test_control_keys_are_not_echoed_while_the_view_is_live_and_the_settings_come_back(
        terminal: int) -> None:
    side = terminal
    before = termios.tcgetattr(side)
    assert echoes_control_keys(side)  # a terminal's default
    with os.fdopen(os.dup(side), "w") as out:
        view = TTYProgress(out)
        view(Planned(("default",), 1, 100.0))
        view(Started(STEP, 100.0))
        assert not echoes_control_keys(side)
        view(Completed(STEP, 101.0, "cancelled"))
        view.close()
    assert termios.tcgetattr(side) == before


def test_a_view_that_never_started_leaves_the_terminal_alone(terminal: int) -> None:
    side = terminal
    before = termios.tcgetattr(side)
    with os.fdopen(os.dup(side), "w") as out:
        TTYProgress(out).close()
    assert termios.tcgetattr(side) == before


def test_a_stream_without_a_terminal_still_gets_the_final_view() -> None:
    out = io.StringIO()  # no file descriptor at all: no terminal settings to change
    view = TTYProgress(out)
    view(Planned(("default",), 1, 100.0))
    view.close()
    assert "[+] Building" in out.getvalue()
