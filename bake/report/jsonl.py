"""Read a ``--progress=rawjson`` log back into events (schemas/progress-event.schema.json).

The inverse of ``bake.progress.rawjson.encode``. Events of kinds this version does not know are
skipped (a newer bake may add some); a line that is not an event of the schema is an error naming it.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterable, Iterator
from typing import Any

from bake.progress.events import Built, Cached, Completed, Event, Logged, Noted, Planned, Started, Step
from bake.report.html import ReportError


def read_events(lines: Iterable[str], name: str = "events") -> Iterator[Event]:
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            event = decode(json.loads(line))
        except (ValueError, KeyError, TypeError, binascii.Error) as err:
            raise ReportError(f"{name}:{n}: not a bake progress event (--progress=rawjson): {err}") from None
        if event is not None:
            yield event


def decode(d: dict[str, Any]) -> Event | None:
    kind, at = d["event"], float(d["at"])
    if kind == "planned":
        return Planned(tuple(map(str, d["targets"])), int(d["steps"]), at, tuple(map(int, d.get("sizes", ()))),
                       tuple((str(k), int(v)) for k, v in dict(d.get("limits") or {}).items()))
    if kind == "built":
        return Built(str(d["target"]), at, str(d.get("error", "")))
    if kind == "noted":
        return Noted(str(d["text"]), at, str(d.get("level", "info")))
    if kind not in ("started", "cached", "logged", "completed"):
        return None
    s = d["step"]
    step = Step(str(s["digest"]), str(s["name"]), tuple(map(str, s.get("targets", ()))), str(s.get("location", "")),
                str(s.get("key", "")))
    if kind == "started":
        return Started(step, at)
    if kind == "cached":
        took = d.get("took")
        return Cached(step, at, float(took) if took is not None else None)
    if kind == "logged":
        return Logged(step, base64.b64decode(d["data"], validate=True), at)
    return Completed(step, at, str(d.get("error", "")))
