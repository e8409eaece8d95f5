"""A note about a step (``--explain``): rawjson carries the step, the schema accepts it, plain prints the text."""

from __future__ import annotations

import io
import json
from pathlib import Path

import jsonschema

from bake.progress.events import Noted, Step
from bake.progress.plain import PlainProgress
from bake.progress.rawjson import RawJSONProgress

STEP = Step("sha256:" + "a" * 64, "[app 2/3] RUN make", ("app",), "Dockerfile:3")
NOTE = Noted("why [app 2/3] RUN make ran: build arg V changed: 1 → 2", 1.0, step=STEP)


def test_rawjson_names_the_step_and_the_schema_accepts_it() -> None:
    out = io.StringIO()
    RawJSONProgress(out)(NOTE)
    RawJSONProgress(out)(Noted("plain note", 2.0))
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    schema = json.loads((Path(__file__).parents[3] / "schemas" / "progress-event.schema.json").read_text())
    for line in lines:
        jsonschema.validate(line, schema)
    assert lines[0]["step"] == {"digest": STEP.digest, "name": STEP.name, "targets": ["app"], "location": "Dockerfile:3"}
    assert "step" not in lines[1]


def test_plain_prints_the_note_as_one_line() -> None:
    out = io.StringIO()
    PlainProgress(out)(NOTE)
    assert out.getvalue() == NOTE.text + "\n"
