"""Ctrl-C in tty mode, on a real terminal: a `bake` process builds a long RUN under a pseudo-terminal,
the terminal's interrupt character stops it, and the screen it leaves (read through a VT100
emulator) holds the final view only — one "[+] Building" header, the cancelled step marked as
buildx marks it, no frame of the live view left behind."""

from __future__ import annotations

import fcntl
import os
import pty
import select
import struct
import sys
import termios
import time
from pathlib import Path

import pyte
import pytest

pytestmark = pytest.mark.root

COLUMNS, ROWS = 100, 60  # tall enough that nothing scrolls away: the whole session stays on screen


def run_in_terminal(cwd: Path, root: Path, interrupt_after: bytes, timeout: float = 120) -> tuple[int, bytes]:
    """Run ``bake --progress=tty`` on a new pseudo-terminal; once its output shows
    ``interrupt_after``, type Ctrl-C. Its exit status and everything it wrote to the terminal."""
    pid, fd = pty.fork()
    if pid == 0:  # the child: bake, with the terminal as its controlling tty
        os.chdir(cwd)
        env = {**os.environ, "TERM": "xterm-256color", "BAKE_ROOT": str(root)}
        env.pop("COLUMNS", None)
        env.pop("LINES", None)
        os.execve(sys.executable, [sys.executable, "-m", "bake", "--progress=tty"], env)
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", ROWS, COLUMNS, 0, 0))
    out = b""
    interrupted = False
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.1)
        if ready:
            try:
                data = os.read(fd, 65536)
            except OSError:  # EIO: every process holding the terminal has gone
                break
            if not data:
                break
            out += data
        if not interrupted and interrupt_after in out:
            time.sleep(1.0)  # a few redraws of the live view while the step runs
            os.write(fd, b"\x03")  # the terminal turns it into SIGINT for the foreground process group
            interrupted = True
    _, status = os.waitpid(pid, 0)
    os.close(fd)
    assert interrupted, out.decode(errors="replace")
    return os.waitstatus_to_exitcode(status), out


def screen_of(output: bytes) -> list[str]:
    screen = pyte.Screen(COLUMNS, ROWS)
    stream = pyte.ByteStream(screen)
    stream.feed(output.replace(b"\x03", b""))  # a terminal ignores a raw ETX; pyte would draw it as a character
    return [line.rstrip() for line in screen.display]


def test_ctrl_c_leaves_the_final_view_and_no_stale_header(busybox_image: str, tmp_path: Path) -> None:
    d = tmp_path / "project"
    d.mkdir()
    (d / "docker-bake.hcl").write_text('target "default" {}\n')
    (d / "Dockerfile").write_text(f"FROM {busybox_image}\nRUN echo started && sleep 60\n")
    code, output = run_in_terminal(d, tmp_path / "root", b"started")
    lines = screen_of(output)
    text = "\n".join(lines)
    assert code == 130, text
    headers = [ln for ln in lines if ln.startswith("[+] Building")]
    assert len(headers) == 1, text
    assert any("=> CANCELED [2/2] RUN echo started && sleep 60" in ln for ln in lines), text
    assert "Traceback" not in text
    after = lines[lines.index(headers[0]) + 1:]
    assert not any(ln.startswith("[+] Building") for ln in after)
