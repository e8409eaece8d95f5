"""What the plain and rawjson renderers print for a sequence of events."""

from __future__ import annotations

import base64
import io
import json
from pathlib import Path

import jsonschema

from bake.progress.events import Built, Cached, Completed, Event, Logged, Noted, Planned, Started, Step
from bake.progress.plain import PlainProgress
from bake.progress.rawjson import RawJSONProgress

BASE = Step("sha256:" + "a" * 64, "[base 1/2] RUN make", ("api", "web"))
API = Step("sha256:" + "b" * 64, "[api 1/1] COPY . .", ("api",))
IMAGE = Step("sha256:" + "c" * 64, "docker.io/library/busybox:latest", ("api", "web"))

EVENTS: list[Event] = [
    Planned(("api", "web"), 3, 100.0),
    Cached(IMAGE, 100.0),
    Started(BASE, 100.0),
    Logged(BASE, b"compiling\nlinking", 100.25),
    Started(API, 100.5),
    Logged(BASE, b"...\n", 101.0),
    Completed(API, 100.75, "cancelled"),
    Completed(BASE, 102.0, "process did not complete successfully: exit code: 2"),
    Built("api", 102.0, "failed to solve: process did not complete successfully: exit code: 2"),
    Noted("No output specified for api target", 102.0, "warning"),
]


def test_plain_numbers_steps_times_output_and_names_the_targets() -> None:
    out = io.StringIO()
    render = PlainProgress(out)
    for e in EVENTS:
        render(e)
    assert out.getvalue() == """\
#1 [api,web] docker.io/library/busybox:latest
#1 CACHED

#2 [api,web base 1/2] RUN make
#2 0.250 compiling

#3 [api api 1/1] COPY . .

#2 [api,web base 1/2] RUN make
#2 1.000 linking...

#3 [api api 1/1] COPY . .
#3 CANCELED

#2 [api,web base 1/2] RUN make
#2 ERROR: process did not complete successfully: exit code: 2

WARNING: No output specified for api target
"""


def test_plain_with_one_target_keeps_names_as_they_are() -> None:
    out = io.StringIO()
    render = PlainProgress(out)
    for e in (Planned(("api",), 1, 0.0), Started(API, 0.0), Logged(API, b"no newline", 0.5), Completed(API, 1.25)):
        render(e)
    assert out.getvalue() == "#1 [api 1/1] COPY . .\n#1 1.250 no newline\n#1 DONE 1.2s\n"


def test_rawjson_is_one_documented_event_per_line() -> None:
    out = io.StringIO()
    render = RawJSONProgress(out)
    for e in EVENTS:
        render(e)
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    schema = json.loads((Path(__file__).parents[3] / "schemas" / "progress-event.schema.json").read_text())
    for line in lines:
        jsonschema.validate(line, schema)
    assert [line["event"] for line in lines] == ["planned", "cached", "started", "logged", "started", "logged",
                                                 "completed", "completed", "built", "noted"]
    assert base64.b64decode(lines[3]["data"]) == b"compiling\nlinking"
    assert lines[2]["step"] == {"digest": BASE.digest, "name": BASE.name, "targets": ["api", "web"]}


def test_tty_ends_with_every_target_and_its_steps_shared_ones_once() -> None:
    from bake.progress.tty import TTYProgress

    out = io.StringIO()
    render = TTYProgress(out)
    for e in [*EVENTS[:-2], Built("web", 102.0), Built("api", 102.5, "failed to solve")]:
        render(e)
    render.close()
    lines = [line.rstrip() for line in out.getvalue().splitlines()]
    assert lines[0] == "[+] Building 2.5s (3/3 steps)"
    assert lines[1] == "api ✘" and lines[-1] == "web ✔ 2.0s"
    steps = [line.split("=> ")[1].rsplit("  ", 1)[0].strip() for line in lines if "=> " in line]
    assert steps == ["docker.io/library/busybox:latest  (shared with web)",
                     "ERROR [base 1/2] RUN make  (shared with web)", "CANCELED [api 1/1] COPY . ."]
    assert lines[2].endswith("CACHED") and lines[-2].split()[-1].endswith("s")  # a cancelled step: how long it ran
    assert "       process did not complete successfully: exit code: 2" in lines
    assert "       linking..." in lines  # the failed step's last output stays visible


def test_tty_prints_nothing_when_nothing_happened() -> None:
    from bake.progress.tty import TTYProgress

    out = io.StringIO()
    TTYProgress(out).close()  # e.g. the bake file had an error before anything was built
    assert out.getvalue() == ""


def test_rawjson_writes_the_optional_fields_only_when_known() -> None:
    out = io.StringIO()
    render = RawJSONProgress(out)
    located = Step(API.digest, API.name, API.targets, "Dockerfile:3-4", "sha256:" + "d" * 64)
    for e in (Planned(("api",), 1, 0.0, (1,), (("exec", 8), ("fetch", 4))), Cached(located, 0.5, 1.25),
              Cached(API, 0.5), Started(located, 1.0)):
        render(e)
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    schema = json.loads((Path(__file__).parents[3] / "schemas" / "progress-event.schema.json").read_text())
    for line in lines:
        jsonschema.validate(line, schema)
    assert lines[0]["limits"] == {"exec": 8, "fetch": 4}
    assert lines[1]["took"] == 1.25 and lines[1]["step"]["location"] == "Dockerfile:3-4"
    assert lines[1]["step"]["key"] == "sha256:" + "d" * 64
    assert "took" not in lines[2] and set(lines[2]["step"]) == {"digest", "name", "targets"}
    assert lines[3]["step"]["location"] == "Dockerfile:3-4"
