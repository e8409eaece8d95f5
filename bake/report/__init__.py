"""The build report: one HTML page of a whole run, drawn from its progress events alone.

``Report`` is a progress sink that passes every event on to another (the terminal's renderer)
and writes the page when it is closed, also after a failed build. ``convert`` makes the same
page afterwards from a ``--progress=rawjson`` log. Nothing here is imported unless a report is
asked for (jinja2 is imported when the page is rendered).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import Protocol

from bake.progress.events import Event
from bake.report.html import ReportError, render, write
from bake.report.run import Fold, Run

__all__ = ["Fold", "Report", "ReportError", "Run", "convert", "render", "render_events", "write"]


class _Renderer(Protocol):
    def __call__(self, event: Event) -> None: ...

    def close(self) -> None: ...


class Report:
    """A sink that collects the run and writes ``path`` on ``close`` (after closing ``inner``)."""

    def __init__(self, path: str | os.PathLike[str], inner: _Renderer | None = None) -> None:
        folder = os.path.dirname(os.path.abspath(path))
        if os.path.isdir(path) or not os.path.isdir(folder) or not os.access(folder, os.W_OK | os.X_OK):
            # checked before the build, so a long build is not lost to a typo in the path
            why = "is a directory" if os.path.isdir(path) else f"{folder} is not a writable directory"
            raise ReportError(f"cannot write the report {os.fspath(path)}: {why}")
        self.path = path
        self.inner = inner
        self.fold = Fold()

    def __call__(self, event: Event) -> None:
        if self.inner is not None:
            self.inner(event)
        self.fold(event)

    def close(self) -> None:
        try:
            if self.inner is not None:
                self.inner.close()
        finally:
            write(self.path, render(self.fold.run()))


def render_events(events: Iterable[Event]) -> str:
    fold = Fold()
    for e in events:
        fold(e)
    return render(fold.run())


def convert(events_log: str | os.PathLike[str], out: str | os.PathLike[str]) -> Run:
    """Write the report of a ``--progress=rawjson`` log (``-`` is not special here: a path)."""
    from bake.report.jsonl import read_events

    fold = Fold()
    try:
        with open(events_log, encoding="utf-8", errors="replace") as f:
            for e in read_events(f, os.fspath(events_log)):
                fold(e)
    except OSError as err:
        raise ReportError(f"cannot read the events log {events_log}: {err.strerror or err}") from err
    run = fold.run()
    write(out, render(run))
    return run
