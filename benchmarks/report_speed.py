"""The build report's cost: rendering a synthetic 1,000-step run, and nothing when it is not asked for.

Goal (issue 15): the page of a 1,000-step run (10 targets, shared and cached steps, output on every
step) is folded and rendered in ≤ 0.5 s, counting jinja2's import and the template's compilation
(a fresh process renders once). Without ``--report``, a build imports nothing of the report and its
progress sink is the renderer itself: the second table checks both in a fresh interpreter.

Run: .venv/bin/python benchmarks/report_speed.py [--runs N] [--steps N] [--out FILE.html]
"""

from __future__ import annotations

import argparse
import random
import statistics
import subprocess
import sys
import time

GOAL = 0.5


def synthetic(steps: int, targets: int = 10, parallelism: int = 16, seed: int = 15) -> list[object]:
    """A run as the solver would report it: a shared base, then per-target chains, run ``parallelism``
    at a time; a third cached, a few failed or cancelled, a few lines of output per step."""
    from bake.progress.events import Built, Cached, Completed, Logged, Planned, Started, Step

    rnd = random.Random(seed)
    labels = [f"svc{i} (linux/{'amd64' if i % 2 == 0 else 'arm64'})" for i in range(targets)]
    t0 = 1_700_000_000.0
    events: list[object] = [Planned(tuple(labels), steps, t0, tuple([steps // targets + 20] * targets),
                                    (("exec", parallelism), ("fetch", 4)))]
    slots = [t0] * parallelism
    for n in range(steps):
        who = tuple(labels) if n < 20 else (labels[n % targets],) if n % 7 else tuple(rnd.sample(labels, 3))
        step = Step(f"sha256:{n:064x}", f"[{who[0].split()[0]} {n}/{steps}] RUN make part-{n} <&> \"quoted\"",
                    who, f"Dockerfile:{n + 1}", f"sha256:{n * 7:064x}")
        slot = min(range(parallelism), key=slots.__getitem__)
        at = slots[slot]
        if n % 3 == 0:
            events.append(Cached(step, at, rnd.uniform(0.1, 5.0)))
            continue
        took = rnd.uniform(0.05, 3.0)
        events.append(Started(step, at))
        for line in range(5):
            events.append(Logged(step, f"compiling unit {line} of step {n}: <ok>\n".encode(), at + took * line / 5))
        error = "" if n % 97 else "process did not complete successfully: exit code: 2"
        events.append(Completed(step, at + took, error if n % 194 else "cancelled"))
        slots[slot] = at + took
    end = max(slots)
    events += [Built(label, end, "") for label in labels]
    return events


def render_once(steps: int) -> tuple[float, float, int]:
    """(fold seconds, render seconds, page bytes) in this process."""
    from bake.report import Fold, render

    events = synthetic(steps)
    t = time.perf_counter()
    fold = Fold()
    for e in events:
        fold(e)  # type: ignore[arg-type]
    run = fold.run()
    folded = time.perf_counter() - t
    t = time.perf_counter()
    page = render(run)
    return folded, time.perf_counter() - t, len(page.encode())


_CHILD = """
import sys, time
sys.path.insert(0, {root!r})
t = time.perf_counter()
from benchmarks.report_speed import render_once
folded, rendered, size = render_once({steps})
print(folded, rendered, size)
"""

_QUIET = """
import sys, time
sys.path.insert(0, {root!r})
t = time.perf_counter()
from bake.cli.build import progress_sink
from bake.cli.commands import parse
args = parse(["--progress", "plain"{report}]).args[0]  # the build action: run_build(BuildArgs)
sink = progress_sink(args.progress)
if args.report:
    from bake.report import Report
    sink = Report(args.report, sink)
took = time.perf_counter() - t
print(took, int("bake.report" in sys.modules), int("jinja2" in sys.modules), type(sink).__name__)
"""


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--steps", type=int, default=1000)
    p.add_argument("--out", help="also write the synthetic run's page here")
    a = p.parse_args()
    root = str(__import__("pathlib").Path(__file__).parents[1])
    cold = []
    for _ in range(a.runs):
        out = subprocess.run([sys.executable, "-c", _CHILD.format(root=root, steps=a.steps)],
                             capture_output=True, text=True, check=True).stdout.split()
        cold.append((float(out[0]), float(out[1]), int(out[2])))
    fold = statistics.median(c[0] for c in cold)
    render = statistics.median(c[1] for c in cold)
    total = fold + render
    print(f"{'report of':<22} {'fold s':>8} {'render s':>9} {'total s':>8} {'goal s':>7} {'ratio':>7}  page")
    verdict = "ok" if total <= GOAL else "OVER GOAL"
    print(f"{f'{a.steps} steps (cold)':<22} {fold:8.3f} {render:9.3f} {total:8.3f} {GOAL:7.2f} "
          f"{GOAL / total:6.2f}x  {cold[0][2] / 1e6:.2f} MB {verdict}")
    from bake.report import Fold
    from bake.report import render as render_page

    events = synthetic(a.steps)
    warm = []
    for _ in range(a.runs):
        t = time.perf_counter()
        f = Fold()
        for e in events:
            f(e)  # type: ignore[arg-type]
        page = render_page(f.run())
        warm.append(time.perf_counter() - t)
    w = statistics.median(warm)
    print(f"{f'{a.steps} steps (warm)':<22} {'':>8} {'':>9} {w:8.3f} {GOAL:7.2f} {GOAL / w:6.2f}x  (template compiled)")
    if a.out:
        with open(a.out, "w", encoding="utf-8") as fh:
            fh.write(page)
    print()
    print(f"{'bake start-up':<22} {'s':>8} {'report imported':>16} {'jinja2 imported':>16}  sink")
    rows = {}
    for label, flag in (("without --report", ""), ("with --report", ', "--report", "/tmp/bench-report.html"')):
        times = []
        for _ in range(a.runs):
            out = subprocess.run([sys.executable, "-c", _QUIET.format(root=root, report=flag)],
                                 capture_output=True, text=True, check=True).stdout.split()
            times.append(float(out[0]))
        rows[label] = statistics.median(times)
        print(f"{label:<22} {rows[label]:8.3f} {'yes' if out[1] == '1' else 'no':>16} "
              f"{'yes' if out[2] == '1' else 'no':>16}  {out[3]}")
    print(f"ratio (with / without): {rows['with --report'] / rows['without --report']:.2f}x; without --report "
          "no report module is loaded and every event goes straight to the renderer")


if __name__ == "__main__":
    main()
