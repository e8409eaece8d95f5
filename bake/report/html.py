"""Render a ``Run`` as one self-contained HTML page (jinja2, autoescaped) and write it atomically.

Everything in the page comes from the build (step names, output, paths, errors) and is escaped by
jinja2's autoescape; nothing is placed in a script, the page's own script reads the DOM's text. A
Content-Security-Policy forbids any network access, so a report can be opened from anywhere.
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

from bake.errors import BakeError
from bake.report.layout import concurrency, seconds, timeline
from bake.report.run import Run

if TYPE_CHECKING:
    import jinja2

_TEMPLATES = Path(__file__).parent / "templates"
_env: jinja2.Environment | None = None


class ReportError(BakeError):
    """The report could not be read (a bad events log) or written (its path)."""


def render(run: Run) -> str:
    """The page for a run."""
    t = run.totals
    status = "failed" if any(g.status == "failed" for g in run.targets) or t.failed else (
        "cancelled" if t.cancelled else "succeeded")
    critical = [run.steps[n] for n in run.critical]
    title = ", ".join(run.lanes[:4]) + (f" and {len(run.lanes) - 4} more" if len(run.lanes) > 4 else "") or "build"
    return _environment().get_template("report.html.j2").render(
        run=run, t=t, title=title, status=status,
        started=time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(run.start)) if run.start else "–",
        limits=", ".join(f"{k} {v}" for k, v in run.limits),
        tl=timeline(run), conc=concurrency(run), critical=critical,
        critical_time=sum(s.duration for s in critical), notes=run.notes,
    )


def write(path: str | os.PathLike[str], page: str) -> None:
    """Replace ``path`` with the page at once: a reader sees the old file or the new, never a part."""
    target = Path(path)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent or ".")
    except OSError as err:
        raise ReportError(f"cannot write the report {path}: {err.strerror or err}") from err
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(page)
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)
    except OSError as err:
        Path(tmp).unlink(missing_ok=True)
        raise ReportError(f"cannot write the report {path}: {err.strerror or err}") from err


def _environment() -> jinja2.Environment:
    global _env
    if _env is None:
        import jinja2

        _env = jinja2.Environment(loader=jinja2.FileSystemLoader(_TEMPLATES), autoescape=True,
                                  undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
        _env.filters["secs"] = seconds
        _env.filters["px"] = _px
    return _env


def _px(v: float) -> str:
    return f"{v:.1f}"
