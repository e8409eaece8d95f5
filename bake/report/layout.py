"""The geometry of the report's SVG charts, computed here so the template only places shapes.

The timeline has one lane per target label; in a lane, a thin strip holds the cached steps (instants,
drawn as ticks that may overlap) and below it the steps that ran are packed into as few rows as
their overlaps allow. A shared step is drawn in the lane of every target that needed it. The
concurrency chart below counts the steps running at each moment against the parallelism limit.
"""

from __future__ import annotations

from collections.abc import Callable

from bake._record import record
from bake.report.run import Run, StepRun, lanes_of

LABEL_W = 210.0  # the lane names' column
CHART_W = 950.0
WIDTH = LABEL_W + CHART_W + 20
AXIS_H = 22.0
STRIP_H = 9.0  # cached steps' strip
ROW_H = 14.0
BAR_H = 11.0
LANE_PAD = 5.0
CONC_H = 90.0
_MIN_W = 2.0


@record
class Bar:
    x: float
    y: float
    w: float
    h: float
    cls: str  # executed | cached | shared | failed | cancelled (+ " crit" on the critical path)
    step: StepRun


@record
class Lane:
    label: str
    y: float
    h: float


@record
class Tick:
    x: float
    label: str


@record
class Timeline:
    width: float
    height: float
    lanes: tuple[Lane, ...]
    bars: tuple[Bar, ...]
    ticks: tuple[Tick, ...]


@record
class Concurrency:
    width: float
    height: float
    points: str  # an SVG polyline
    peak: int
    limit: int | None  # the exec limit, when the events name it
    limit_y: float | None
    scale: int  # the count at the chart's top
    ticks: tuple[Tick, ...]


def timeline(run: Run) -> Timeline:
    x = _scale(run)
    span: dict[str, list[str]] = {}
    by_lane: dict[str, list[StepRun]] = {lane: [] for lane in run.lanes}
    for s in run.steps:
        seen = set()
        for label in s.targets:
            for lane in span.get(label) or span.setdefault(label, lanes_of(label, run.lanes)):
                if lane not in seen:
                    seen.add(lane)
                    by_lane[lane].append(s)
    lanes: list[Lane] = []
    bars: list[Bar] = []
    y = AXIS_H
    for label in run.lanes:
        steps = by_lane[label]
        top = y + LANE_PAD
        cached = [s for s in steps if s.status == "cached"]
        if cached:
            for s in cached:
                bars.append(Bar(x(s.start) - 1, top, 3.0, STRIP_H - 2, _cls(s), s))
            top += STRIP_H
        rows: list[float] = []  # each row's right edge
        for s in steps:
            if s.status == "cached":
                continue
            x0 = x(s.start)
            w = max(_MIN_W, x(s.end) - x0)
            for r, right in enumerate(rows):
                if right <= x0 + 1:  # a step that began as the last one ended goes on in its row
                    rows[r] = x0 + w
                    break
            else:
                r = len(rows)
                rows.append(x0 + w)
            bars.append(Bar(x0, top + r * ROW_H, w, BAR_H, _cls(s), s))
        h = top + max(1, len(rows)) * ROW_H + LANE_PAD - y
        lanes.append(Lane(label, y, h))
        y += h
    return Timeline(WIDTH, y + 4, tuple(lanes), tuple(bars), ticks(run))


def concurrency(run: Run) -> Concurrency:
    x = _scale(run)
    changes: list[tuple[float, int]] = []
    for s in run.steps:
        if s.status != "cached" and s.end > s.start:
            changes += [(s.start, 1), (s.end, -1)]
    changes.sort(key=lambda c: (c[0], c[1]))  # ends before starts at one instant
    limit = dict(run.limits).get("exec")
    running = peak = 0
    counts: list[tuple[float, int]] = [(run.start, 0)]
    for t, d in changes:
        running += d
        peak = max(peak, running)
        if counts[-1][0] == t:
            counts[-1] = (t, running)
        else:
            counts.append((t, running))
    scale = max(peak, limit or 0, 1)
    top, bottom = 8.0, CONC_H - AXIS_H

    def y(n: int) -> float:
        return bottom - (bottom - top) * n / scale

    points = [f"{LABEL_W:.1f},{bottom:.1f}"]
    prev = 0
    for t, n in counts:
        xt = x(t)
        points.append(f"{xt:.1f},{y(prev):.1f}")
        points.append(f"{xt:.1f},{y(n):.1f}")
        prev = n
    points.append(f"{LABEL_W + CHART_W:.1f},{y(prev):.1f}")
    return Concurrency(WIDTH, CONC_H, " ".join(points), peak, limit, y(limit) if limit else None, scale,
                       tuple(Tick(t.x, t.label) for t in ticks(run)))


def ticks(run: Run) -> tuple[Tick, ...]:
    """About eight round time marks across the run."""
    x = _scale(run)
    dur = max(run.duration, 1e-3)
    step = next((s for s in _STEPS if dur / s <= 8), _STEPS[-1])
    out = []
    n = 0
    while n * step <= dur + 1e-9:
        out.append(Tick(x(run.start + n * step), seconds(n * step)))
        n += 1
    return tuple(out)


_STEPS = (0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200)


def seconds(t: float) -> str:
    """``0.25s``, ``12s``, ``1m30s``, ``2h05m``."""
    if t < 10:
        return f"{t:.2f}".rstrip("0").rstrip(".") + "s"
    if t < 60:
        return f"{t:.0f}s"
    if t < 3600:
        m, s = divmod(round(t), 60)
        return f"{m}m{s:02d}s" if s else f"{m}m"
    h, m = divmod(round(t) // 60, 60)
    return f"{h}h{m:02d}m"


def _scale(run: Run) -> Callable[[float], float]:
    dur = max(run.duration, 1e-3)
    k = CHART_W / dur
    start = run.start

    def x(t: float) -> float:
        return LABEL_W + (t - start) * k

    return x


def _cls(s: StepRun) -> str:
    cls = "shared" if s.status == "executed" and s.shared > 1 else s.status
    return cls + " crit" if s.critical else cls
