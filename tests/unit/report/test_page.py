"""The HTML report of a run, from inline event lists: what the page draws, counts and escapes."""

from __future__ import annotations

import html.parser
import io
import os
from pathlib import Path

import pytest

from bake.progress.events import Built, Cached, Completed, Event, Logged, Noted, Planned, Started, Step
from bake.progress.rawjson import RawJSONProgress
from bake.report import Fold, Report, ReportError, Run, convert, render_events
from bake.report.jsonl import read_events


def step(c: str, name: str, *targets: str, location: str = "", key: str = "") -> Step:
    return Step("sha256:" + c * 64, name, targets, location, key)


IMAGE = step("a", "docker.io/library/busybox:latest", "api", "web")
BASE = step("b", "[base 2/2] RUN make", "api", "web", location="Dockerfile:3", key="sha256:" + "e" * 64)
API = step("c", "[api 1/1] COPY . .", "api", location="Dockerfile:6")
WEB = step("d", "[web 1/1] RUN npm test", "web", location="Dockerfile:9-10")
EXPORT = step("f", "exporting to image 127.0.0.1:5000/api (push)", "api")

RUN: list[Event] = [
    Planned(("api", "web"), 4, 100.0, (3, 3), (("exec", 2), ("fetch", 4))),
    Cached(IMAGE, 100.0, 3.5),
    Started(BASE, 100.0),
    Logged(BASE, b"cc -o app main.c\nlinking", 100.5),
    Completed(BASE, 102.0),
    Started(API, 102.0),
    Started(WEB, 102.0),
    Logged(WEB, b"1 failing\n", 102.5),
    Completed(WEB, 103.0, "process did not complete successfully: exit code: 1"),
    Completed(API, 103.0, "cancelled"),
    Built("web", 103.0, "process did not complete successfully: exit code: 1"),
    Built("api", 103.0),
    Started(EXPORT, 103.0),
    Completed(EXPORT, 104.0),
    Noted("pushed 127.0.0.1:5000/api", 104.0),
]


class Page(html.parser.HTMLParser):
    """Every element of a page, as (tag, attributes), and the text of its <title>s and <script>s."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.elements: list[tuple[str, dict[str, str | None]]] = []
        self.scripts: list[str] = []
        self._in: list[str] = []
        self.feed(text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append((tag, dict(attrs)))
        self._in.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if self._in and self._in[-1] == tag:
            self._in.pop()

    def handle_data(self, data: str) -> None:
        if self._in and self._in[-1] == "script":
            self.scripts.append(data)

    def find(self, tag: str, cls: str = "") -> list[dict[str, str | None]]:
        return [a for t, a in self.elements if t == tag and (not cls or cls in (a.get("class") or "").split())]


def bars(page: Page, cls: str) -> list[str | None]:
    return [a["data-n"] for a in page.find("rect", "bar") if not cls or cls in (a.get("class") or "").split()]


def test_every_step_is_a_bar_in_each_lane_that_needed_it_coloured_by_what_happened() -> None:
    page = Page(render_events(RUN))
    assert len(page.find("rect", "lane-bg")) == 2  # api, web
    assert len(bars(page, "cached")) == 2  # the image, in both lanes
    assert len(bars(page, "shared")) == 2  # make ran once for both
    assert len(bars(page, "failed")) == 1 and len(bars(page, "cancelled")) == 1
    assert len(bars(page, "executed")) == 1  # the export
    # every bar links to its step's row, so the page works without its script
    rows = {a["id"] for a in page.find("tr") if a.get("id")}
    assert {f"s{n}" for n in bars(page, "")} <= rows and len(rows) == 5


def test_totals_count_requests_dedup_cache_and_the_time_they_saved() -> None:
    run = _run(RUN)
    t = run.totals
    assert (t.requested, t.unique, t.cached, t.executed, t.failed, t.cancelled) == (6, 4, 1, 1, 1, 1)
    assert t.saved_by_dedup == pytest.approx(2.0)  # make took 2 s and served 2 targets
    assert (t.saved_by_cache, t.cache_times_known) == (3.5, 1)
    text = render_events(RUN)
    assert "<dt>unique after dedup</dt><dd>4</dd>" in text and "<dt>time saved by dedup</dt><dd>2s</dd>" in text


def test_a_step_started_and_never_completed_was_cancelled() -> None:
    run = _run([Planned(("a",), 1, 0.0), Started(API, 0.0), Logged(API, b"half a line", 0.5)])
    [s] = run.steps
    assert (s.status, s.end, s.tail) == ("cancelled", 0.5, ("half a line",))


def test_the_critical_path_follows_the_steps_that_waited_for_each_other() -> None:
    a, b, c, side = (step(x, f"step {x}", "t") for x in "1234")
    run = _run([Planned(("t",), 4, 0.0), Started(a, 0.0), Started(side, 0.0), Completed(side, 0.5),
                Completed(a, 1.0), Started(b, 1.0), Completed(b, 3.0), Started(c, 3.01), Completed(c, 4.0)])
    assert [run.steps[n].name for n in run.critical] == ["step 1", "step 2", "step 3"]
    page = Page(render_events([Planned(("t",), 2, 0.0), Started(a, 0.0), Completed(a, 1.0), Started(b, 1.0),
                               Completed(b, 2.0)]))
    assert len(page.find("rect", "crit")) == 2


def test_the_concurrency_chart_draws_the_steps_running_and_the_limit() -> None:
    page = Page(render_events(RUN))
    [line] = page.find("polyline", "conc")
    ys = {float(p.split(",")[1]) for p in (line["points"] or "").split()}
    assert len(ys) == 3  # 0, 1 and 2 running
    assert len(page.find("line", "limit")) == 1  # exec 2
    assert len(Page(render_events(RUN[1:])).find("line", "limit")) == 0  # no Planned, no known limit


def test_targets_show_their_outputs_pushes_and_errors_with_the_log() -> None:
    run = _run(RUN)
    api, web = run.targets
    assert (api.status, web.status) == ("built", "failed")
    assert [o.name for o in api.outputs] == [EXPORT.name] and api.pushed == ("127.0.0.1:5000/api",)
    assert web.failures[0].tail == ("1 failing",) and web.end == 103.0
    text = render_events(RUN)
    assert "<pre>1 failing</pre>" in text and "pushed <code>127.0.0.1:5000/api</code>" in text


HOSTILE = '<script>alert("x")</script><img src=x onerror=alert(1)>'


def test_everything_from_the_build_is_escaped() -> None:
    evil = step("9", f'[t 1/1] RUN echo "{HOSTILE}"', f'"><svg onload=alert(2)>{HOSTILE}',
                location=HOSTILE, key=HOSTILE)
    text = render_events([Planned((evil.targets[0],), 1, 0.0), Started(evil, 0.0),
                          Logged(evil, HOSTILE.encode() + b"\n", 0.1), Completed(evil, 0.2, HOSTILE),
                          Built(evil.targets[0], 0.2, HOSTILE), Noted(HOSTILE, 0.3, "warning")])
    page = Page(text)
    assert len(page.find("script")) == 1 and 'alert("x")' not in "".join(page.scripts)
    assert not page.find("img")
    assert len(page.find("svg")) == 2  # the timeline and the concurrency chart, nothing injected
    assert not [name for _, attrs in page.elements for name in attrs if name.startswith("on")]
    assert "&lt;script&gt;" in text


def test_the_page_needs_no_network() -> None:
    page = Page(render_events(RUN))
    [csp] = [a["content"] for a in page.find("meta") if a.get("http-equiv") == "Content-Security-Policy"]
    assert (csp or "").startswith("default-src 'none'")
    refs = [v for _, attrs in page.elements for k, v in attrs.items() if k in ("src", "href")]
    assert refs and all((v or "").startswith("#") for v in refs)
    assert not page.find("link")


def test_a_rawjson_log_reads_back_as_the_same_events() -> None:
    out = io.StringIO()
    log = RawJSONProgress(out)
    for e in RUN:
        log(e)
    assert list(read_events(out.getvalue().splitlines())) == RUN


def test_a_line_that_is_no_event_is_named(tmp_path: Path) -> None:
    log = tmp_path / "events.jsonl"
    log.write_text('{"event":"noted","at":1,"level":"info","text":"ok"}\n{"event":"started","at":2}\n')
    with pytest.raises(ReportError, match=r"events.jsonl:2: not a bake progress event"):
        convert(log, tmp_path / "r.html")
    log.write_text('{"event":"reticulated","at":1}\n{"event":"noted","at":1,"level":"info","text":"ok"}\n')
    assert convert(log, tmp_path / "r.html").notes == (("info", "ok"),)  # newer kinds are skipped


def test_the_sink_passes_events_on_and_writes_the_page_at_close(tmp_path: Path) -> None:
    seen: list[Event] = []

    class Inner:
        closed = False

        def __call__(self, e: Event) -> None:
            seen.append(e)

        def close(self) -> None:
            Inner.closed = True

    out = tmp_path / "report.html"
    out.write_text("old")
    sink = Report(out, Inner())
    for e in RUN:
        sink(e)
    assert out.read_text() == "old"
    sink.close()
    assert seen == RUN and Inner.closed
    assert out.read_text().startswith("<!doctype html>") and os.listdir(tmp_path) == ["report.html"]


def test_a_report_path_that_cannot_be_written_is_refused_before_the_build(tmp_path: Path) -> None:
    with pytest.raises(ReportError, match="is not a writable directory"):
        Report(tmp_path / "missing" / "r.html")
    with pytest.raises(ReportError, match="is a directory"):
        Report(tmp_path)


def test_an_empty_run_still_makes_a_page() -> None:
    assert "Nothing ran." in render_events([])


def _run(events: list[Event]) -> Run:
    fold = Fold()
    for e in events:
        fold(e)
    return fold.run()


def test_explain_reasons_show_beside_their_steps() -> None:
    run_step = step("r", "[app 1/1] RUN make", "app", location="Dockerfile:3")
    why = "build arg VERSION changed: 1 → 2"
    events: list[Event] = [Planned(("app",), 1, 0.0, (1,)), Started(run_step, 0.1),
                           Noted(f"why {run_step.name} ran: {why}", 0.1, step=run_step), Completed(run_step, 0.5),
                           Built("app", 0.5)]
    (s,) = [s for s in _run(events).steps if s.digest == run_step.digest]
    assert s.why == why and not _run(events).notes  # a step's note is its reason, not a general note
    assert "why: build arg VERSION changed: 1 → 2" in render_events(events)
