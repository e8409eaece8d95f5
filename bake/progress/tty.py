"""``--progress=tty``: a live view of the build, redrawn in place (rich).

::

    [+] Building 3.2s (7/12 steps)
    api ⠋ 3/4
        => docker.io/library/busybox:latest  (shared with web)           CACHED
        => [base 1/2] RUN make  (shared with web)                          1.2s
           cc -c main.c
    web ⠋ 1/3
        => [web 1/1] COPY . .                                              0.0s

Steps are grouped under the targets that need them; a step shared by several targets is one line
naming the others; running steps show their last output lines. When the build ends the view is
replaced by every target with all its steps, as buildx leaves its list.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from typing import TYPE_CHECKING, Any, TextIO

from bake.progress.events import Built, Cached, Completed, Event, Logged, Noted, Planned, Started, Step

if TYPE_CHECKING:
    from rich.console import RenderableType
    from rich.table import Table

SPINNER = "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏"
OUTPUT_LINES = 4


class _Row:
    def __init__(self, step: Step, at: float, cached: bool = False) -> None:
        self.step = step
        self.started = at
        self.ended: float | None = at if cached else None
        self.cached = cached
        self.error = ""
        self.tail: list[str] = []
        self.partial = ""

    def add(self, data: bytes) -> None:
        text = self.partial + data.decode(errors="replace").replace("\r", "\n")
        *lines, self.partial = text.split("\n")
        self.tail = [*self.tail, *(ln for ln in lines if ln.strip())][-OUTPUT_LINES:]

    def lines(self) -> list[str]:
        return [*self.tail, self.partial][-OUTPUT_LINES:] if self.partial.strip() else self.tail


class TTYProgress:
    def __init__(self, out: TextIO) -> None:
        from rich.console import Console
        from rich.live import Live

        self.console = Console(file=out, highlight=False)
        self.lock = threading.Lock()
        self.rows: dict[str, _Row] = {}
        self.targets: tuple[str, ...] = ()
        self.sizes: dict[str, int] = {}
        self.notes: list[Noted] = []
        self.built: dict[str, Built] = {}
        self.begin = time.time()
        self.last = self.begin  # the latest event's time: what the final view reports
        self.multi = False
        self.live = Live(console=self.console, refresh_per_second=8, transient=True, get_renderable=self._render)
        self.started = False  # the view appears with the first event: an early error prints no empty frame
        self._saved: tuple[int, list[Any]] | None = None  # the terminal's attributes before the view

    def __call__(self, event: Event) -> None:
        if not self.started:
            self.started = True
            self._quiet_control_keys()
            self.live.start()
        with self.lock:
            self.last = max(self.last, event.at)
            if isinstance(event, Planned):
                self.targets = event.targets
                self.sizes = dict(zip(event.targets, event.sizes, strict=False))
                self.multi = len(event.targets) > 1
                self.begin = self.last = event.at
            elif isinstance(event, Noted):
                self.notes.append(event)
            elif isinstance(event, Built):
                self.built[event.target] = event
            elif isinstance(event, Started):
                self.rows[event.step.digest] = _Row(event.step, event.at)
            elif isinstance(event, Cached):
                self.rows[event.step.digest] = _Row(event.step, event.at, cached=True)
            elif isinstance(event, Logged):
                row = self.rows.get(event.step.digest)
                if row is not None:
                    row.add(event.data)
            elif isinstance(event, Completed):
                row = self.rows.get(event.step.digest)
                if row is not None:
                    row.ended, row.error = event.at, event.error

    def close(self) -> None:
        if not self.started:
            return
        try:
            self.live.stop()
            with self.lock:
                self.console.print(self._render(final=True))
        finally:
            self._restore_terminal()

    def _quiet_control_keys(self) -> None:
        """While the view is live, the terminal echoes no ``^C``: the echo lands at the end of the
        view's last line, wraps it when that line fills the width, and the view (redrawn by moving
        up as many lines as it drew) then leaves its first line — the "[+] Building" header —
        behind on the screen. The signal itself still comes; only its echo is gone."""
        import termios

        try:
            fd = self.console.file.fileno()
            if not os.isatty(fd):
                return
            attrs = termios.tcgetattr(fd)
            quiet = list(attrs)
            quiet[3] = attrs[3] & ~termios.ECHOCTL
            termios.tcsetattr(fd, termios.TCSANOW, quiet)
        except (OSError, ValueError, termios.error):
            return  # not a terminal we may change: nothing to restore either
        self._saved = (fd, attrs)

    def _restore_terminal(self) -> None:
        import termios

        if self._saved is not None:
            fd, attrs = self._saved
            self._saved = None
            with contextlib.suppress(OSError, termios.error):
                termios.tcsetattr(fd, termios.TCSANOW, attrs)

    # --- drawing ----------------------------------------------------------------------------------

    def _render(self, final: bool = False) -> RenderableType:
        """Grouped by target: each target's line, then the steps it is the first to need (a shared
        step is listed once, naming the other targets). While building, finished targets fold to
        their line so the running ones stay in view; the final view lists everything."""
        from rich.console import Group
        from rich.table import Table
        from rich.text import Text

        now = self.last if final else time.time()
        done = sum(1 for r in self.rows.values() if r.ended is not None)
        head = Text(f"[+] Building {now - self.begin:.1f}s ({done}/{len(self.rows)} steps)", style="bold")
        table = Table.grid(expand=True, padding=(0, 1))
        table.add_column(ratio=1, overflow="ellipsis", no_wrap=True)
        table.add_column(justify="right", no_wrap=True)
        groups: dict[str, list[_Row]] = {t: [] for t in self.targets}
        for row in sorted(self.rows.values(), key=lambda r: r.started):
            owner = next((t for t in row.step.targets if t in groups), "")
            groups.setdefault(owner, []).append(row)
        for target, rows in groups.items():
            if self.multi and target:
                built = self.built.get(target)
                table.add_row(Text(self._target_status(target, now), style="bold" if built is None else ""), Text(""))
                if built is not None and not built.error and not final:
                    continue
            indent = "   " if self.multi and target else ""
            for row in rows:
                self._add(table, row, indent, target, now, final)
        notes = [Text(("WARNING: " if n.level == "warning" else "") + n.text, style="yellow") for n in self.notes]
        return Group(head, table, *notes)

    def _add(self, table: Table, row: _Row, indent: str, owner: str, now: float, final: bool) -> None:
        from rich.text import Text

        others = [t for t in row.step.targets if t != owner]
        name = row.step.name + (f"  (shared with {', '.join(others)})" if owner and others else "")
        if row.cached:
            table.add_row(Text(f"{indent} => {name}"), Text("CACHED", style="cyan"))
        elif row.ended is None:
            table.add_row(Text(f"{indent} => {name}", style="bold"), Text(f"{now - row.started:.1f}s"))
            for line in row.lines():
                table.add_row(Text(f"{indent}    {line}", style="dim"), Text(""))
        elif row.error:
            took = f"{row.ended - row.started:.1f}s"
            word = "CANCELED" if row.error == "cancelled" else "ERROR"  # buildx's words for the two endings
            table.add_row(Text(f"{indent} => {word} {name}", style="red"), Text(took, style="red"))
            if row.error != "cancelled":
                for line in (*row.lines(), row.error):
                    table.add_row(Text(f"{indent}    {line}", style="red"), Text(""))
        else:
            table.add_row(Text(f"{indent} => {name}", style="green" if not final else ""),
                          Text(f"{row.ended - row.started:.1f}s"))

    def _target_status(self, target: str, now: float) -> str:
        built = self.built.get(target)
        if built is not None:
            return f"{target} ✘" if built.error else f"{target} ✔ {built.at - self.begin:.1f}s"
        finished = sum(1 for r in self.rows.values() if target in r.step.targets and r.ended is not None)
        spin = SPINNER[int(now * 8) % len(SPINNER)]
        return f"{target} {spin} {finished}/{self.sizes.get(target, '?')}"
