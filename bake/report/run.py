"""A build run as the report shows it, folded from progress events alone.

``Fold`` is a progress sink: feed it every event as it happens (or afterwards, from a rawjson log)
and ``Fold.run()`` gives the finished ``Run``. Only the last lines of each step's output are kept,
so a chatty build costs the report little memory.

What events cannot say is inferred and named as such: a step whose ``Started`` has no
``Completed`` was cut short (cancelled); steps named ``exporting to …`` / ``publishing: …`` are the
outputs written after the solve; the critical path is the chain of steps each of which started
when the previous one (in one of its targets) ended, since events carry no graph edges.
"""

from __future__ import annotations

import bisect
from collections import deque

from bake._record import record, replace
from bake.progress.events import Built, Cached, Completed, Event, Logged, Noted, Planned, Started

TAIL = 12  # lines of output kept per step
_PARTIAL = 4096  # bytes of an unfinished line kept per step
_SLACK = 0.05  # seconds: a step "waited for" another that ended this close before it started
OUTPUT_PREFIXES = ("exporting to ", "publishing: ")


@record
class StepRun:
    n: int  # position in the run (the page's anchor: #s<n>)
    digest: str
    name: str
    targets: tuple[str, ...]
    location: str
    key: str
    status: str  # executed | cached | failed | cancelled
    start: float
    end: float
    error: str = ""
    tail: tuple[str, ...] = ()
    took: float | None = None  # cached: how long it ran when stored
    output: bool = False  # an export after the solve, not a graph step
    critical: bool = False
    why: str = ""  # --explain: why it ran

    @property
    def duration(self) -> float:
        return self.end - self.start

    @property
    def shared(self) -> int:
        """How many targets (labels) this one step served; 1 when not shared."""
        return max(1, len(self.targets))


@record
class TargetRun:
    label: str
    status: str  # built | failed | cancelled | unknown
    error: str
    end: float | None  # when its result was ready (Built), None if never
    executed: int
    cached: int
    outputs: tuple[StepRun, ...]
    failures: tuple[StepRun, ...]  # its failed steps, with their output tails
    pushed: tuple[str, ...] = ()  # refs a "pushed …" note names that one of its outputs named


@record
class Totals:
    requested: int  # steps the targets need, a shared step counted for each
    unique: int  # after dedup
    cached: int
    executed: int
    failed: int
    cancelled: int
    saved_by_dedup: float  # seconds: (targets - 1) x duration of every shared step that ran
    saved_by_cache: float  # seconds the cached steps ran when they were stored (where known)
    cache_times_known: int  # of the cached steps, how many recorded their time

    @property
    def skipped(self) -> int:
        """Steps never needed: the inputs of cached steps (a cache hit needs nothing below it)."""
        return max(0, self.unique - self.cached - self.executed - self.failed - self.cancelled)


@record
class Run:
    start: float
    end: float
    lanes: tuple[str, ...]  # target labels, in plan order
    steps: tuple[StepRun, ...]  # by start time
    targets: tuple[TargetRun, ...]
    totals: Totals
    limits: tuple[tuple[str, int], ...]
    notes: tuple[tuple[str, str], ...]  # (level, text)
    critical: tuple[int, ...]  # step numbers, first to last

    @property
    def duration(self) -> float:
        return self.end - self.start


class _Open:
    """A step while the run is being folded."""

    __slots__ = ("cached", "end", "error", "event", "lines", "partial", "start", "took")

    def __init__(self, event: Started | Cached) -> None:
        self.event = event
        self.start = event.at
        self.end: float | None = event.at if isinstance(event, Cached) else None
        self.cached = isinstance(event, Cached)
        self.took = event.took if isinstance(event, Cached) else None
        self.error = ""
        self.lines: deque[str] = deque(maxlen=TAIL)
        self.partial = b""


class Fold:
    """A progress sink that remembers what the report needs; ``run()`` may be called at any time."""

    def __init__(self) -> None:
        self.planned: list[Planned] = []
        self.steps: list[_Open] = []
        self.current: dict[str, _Open] = {}
        self.built: dict[str, Built] = {}
        self.notes: list[tuple[str, str]] = []
        self.why: dict[str, str] = {}  # step digest → --explain's reason
        self.first: float | None = None
        self.last = 0.0

    def __call__(self, event: Event) -> None:
        if self.first is None:
            self.first = event.at
        self.last = max(self.last, event.at)
        if isinstance(event, Logged):
            self._log(event)
        elif isinstance(event, Started | Cached):
            step = _Open(event)
            self.steps.append(step)
            self.current[event.step.digest] = step
        elif isinstance(event, Completed):
            step = self.current.get(event.step.digest) or self._orphan(event)
            step.end, step.error = event.at, event.error
            self._flush(step)
        elif isinstance(event, Planned):
            self.planned.append(event)
        elif isinstance(event, Built):
            self.built[event.target] = event
        elif isinstance(event, Noted) and event.step is not None:
            self.why[event.step.digest] = event.text.partition(" ran: ")[2] or event.text
        elif isinstance(event, Noted):
            self.notes.append((event.level, event.text))

    def _orphan(self, event: Completed) -> _Open:
        step = _Open(Started(event.step, event.at))
        self.steps.append(step)
        return step

    def _log(self, event: Logged) -> None:
        step = self.current.get(event.step.digest)
        if step is None:
            return
        *lines, rest = (step.partial + event.data).split(b"\n")
        step.partial = rest[-_PARTIAL:]
        for line in lines[-TAIL:]:
            step.lines.append(line.decode(errors="replace").rstrip("\r"))

    def _flush(self, step: _Open) -> None:
        if step.partial:
            step.lines.append(step.partial.decode(errors="replace").rstrip("\r"))
            step.partial = b""

    def run(self) -> Run:
        start = self.first if self.first is not None else 0.0
        end = self.last
        steps = []
        for n, o in enumerate(sorted(self.steps, key=lambda o: o.start)):
            self._flush(o)
            s = o.event.step
            if o.cached:
                status = "cached"
            elif o.end is None or o.error == "cancelled":
                status = "cancelled"
            else:
                status = "failed" if o.error else "executed"
            steps.append(StepRun(n, s.digest, s.name, s.targets, s.location, s.key, status, o.start,
                                 o.end if o.end is not None else end, o.error, tuple(o.lines), o.took,
                                 s.name.startswith(OUTPUT_PREFIXES), why=self.why.get(s.digest, "")))
        lanes = _lanes(self.planned, steps)
        critical = critical_path(steps)
        marked = set(critical)
        if marked:
            steps = [replace(s, critical=True) if s.n in marked else s for s in steps]
        limits: dict[str, int] = {}
        for p in self.planned:
            limits.update(p.limits)
        return Run(start, max(end, start), lanes, tuple(steps), _targets(lanes, self.built, steps, self.notes),
                   _totals(self.planned, steps), tuple(limits.items()), tuple(self.notes), critical)


def _lanes(planned: list[Planned], steps: list[StepRun]) -> tuple[str, ...]:
    lanes: dict[str, None] = {}
    for p in planned:
        lanes.update(dict.fromkeys(p.targets))
    for s in steps:
        for label in s.targets:
            if not lanes_of(label, lanes):
                lanes[label] = None
    return tuple(lanes)


def lanes_of(label: str, lanes: dict[str, None] | tuple[str, ...]) -> list[str]:
    """The lanes a step's target label belongs to: itself, or for a bare target name (outputs are
    reported per target), the first of its platforms' lanes (``name (os/arch)``)."""
    if label in lanes:
        return [label]
    prefix = label + " ("
    return [lane for lane in lanes if lane.startswith(prefix)][:1]


def _targets(lanes: tuple[str, ...], built: dict[str, Built], steps: list[StepRun],
             notes: list[tuple[str, str]]) -> tuple[TargetRun, ...]:
    pushed = [ref for _, text in notes if text.startswith("pushed ") for ref in text[7:].split(", ")]
    out = []
    for label in lanes:
        mine = [s for s in steps if any(label in lanes_of(t, lanes) for t in s.targets)]
        b = built.get(label)
        if b is None:
            status = "cancelled" if any(s.status in ("failed", "cancelled") for s in steps) else "unknown"
        else:
            status = "failed" if b.error else "built"
        graph = [s for s in mine if not s.output]
        outputs = tuple(s for s in mine if s.output)
        out.append(TargetRun(label, status, b.error if b else "", b.at if b else None,
                             sum(s.status == "executed" for s in graph), sum(s.status == "cached" for s in graph),
                             outputs, tuple(s for s in mine if s.status == "failed"),
                             tuple(r for r in pushed if any(r in o.name for o in outputs))))
    return tuple(out)


def _totals(planned: list[Planned], steps: list[StepRun]) -> Totals:
    graph = [s for s in steps if not s.output]
    unique = sum(p.steps for p in planned) if planned else len({s.digest for s in graph})
    requested = sum(sum(p.sizes) for p in planned) if any(p.sizes for p in planned) else \
        sum(s.shared for s in graph)
    cached = [s for s in graph if s.status == "cached"]
    known = [s.took for s in cached if s.took is not None]
    return Totals(requested, unique, len(cached), sum(s.status == "executed" for s in graph),
                  sum(s.status == "failed" for s in graph), sum(s.status == "cancelled" for s in graph),
                  sum((s.shared - 1) * s.duration for s in graph if s.status == "executed"),
                  sum(known), len(known))


def critical_path(steps: list[StepRun]) -> tuple[int, ...]:
    """The chain that decided the run's length: from the last step to end, back through the step
    (of one of its targets) that ended last before it started, while such a step exists."""
    timed = [s for s in steps if s.status != "cached"]
    if not timed:
        return ()
    by_target: dict[str, tuple[list[float], list[StepRun]]] = {}
    for s in sorted(timed, key=lambda s: s.end):
        for t in s.targets or ("",):
            ends, ss = by_target.setdefault(t, ([], []))
            ends.append(s.end)
            ss.append(s)
    cur = max(timed, key=lambda s: s.end)
    chain = [cur.n]
    seen = {cur.n}
    while True:
        best: StepRun | None = None
        for t in cur.targets or ("",):
            ends, ss = by_target[t]
            i = bisect.bisect_right(ends, cur.start + _SLACK) - 1
            while i >= 0 and (ss[i].n in seen or ss[i].start >= cur.start):
                i -= 1
            if i >= 0 and (best is None or ss[i].end > best.end):
                best = ss[i]
        if best is None:
            break
        cur = best
        chain.append(cur.n)
        seen.add(cur.n)
    return tuple(reversed(chain))
