"""``--progress=rawjson``: one JSON object per event and line (schemas/progress-event.schema.json).

Output bytes are base64 (``data``), as buildx's rawjson does for logs: a step may print anything.
"""

from __future__ import annotations

import base64
import json
from typing import TextIO

from bake.progress.events import Built, Cached, Completed, Event, Logged, Noted, Planned, Started, Step


class RawJSONProgress:
    def __init__(self, out: TextIO) -> None:
        self.out = out

    def __call__(self, event: Event) -> None:
        self.out.write(json.dumps(encode(event), separators=(",", ":")) + "\n")
        self.out.flush()

    def close(self) -> None:
        self.out.flush()


def encode(event: Event) -> dict[str, object]:
    if isinstance(event, Noted):
        noted: dict[str, object] = {"event": "noted", "at": event.at, "level": event.level, "text": event.text}
        if event.step is not None:
            noted["step"] = _step(event.step)
        return noted
    if isinstance(event, Planned):
        planned: dict[str, object] = {"event": "planned", "at": event.at, "targets": list(event.targets),
                                      "steps": event.steps, "sizes": list(event.sizes)}
        if event.limits:
            planned["limits"] = dict(event.limits)
        return planned
    if isinstance(event, Built):
        return {"event": "built", "at": event.at, "target": event.target, "error": event.error}
    step = _step(event.step)
    if isinstance(event, Started):
        return {"event": "started", "at": event.at, "step": step}
    if isinstance(event, Cached):
        cached = {"event": "cached", "at": event.at, "step": step}
        if event.took is not None:
            cached["took"] = event.took
        return cached
    if isinstance(event, Logged):
        return {"event": "logged", "at": event.at, "step": step, "data": base64.b64encode(event.data).decode()}
    assert isinstance(event, Completed)
    return {"event": "completed", "at": event.at, "step": step, "error": event.error}


def _step(s: Step) -> dict[str, object]:
    step: dict[str, object] = {"digest": s.digest, "name": s.name, "targets": list(s.targets)}
    if s.location:
        step["location"] = s.location
    if s.key:
        step["key"] = s.key
    return step
