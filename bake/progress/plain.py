"""``--progress=plain``: numbered step blocks as buildx prints them.

::

    #3 [deps 2/2] RUN npm ci
    #3 0.214 added 12 packages
    #3 DONE 1.4s

    #4 [base 1/1] FROM docker.io/library/busybox
    #4 CACHED

Output lines carry the seconds since their step started; a partial line waits for its newline
(or the step's end). When several targets build, a step's name starts with the targets needing it,
as buildx prefixes them (``[api base 1/2]``); a step shared by several is shown once, naming all.
"""

from __future__ import annotations

from typing import TextIO

from bake.progress.events import Cached, Completed, Event, Logged, Noted, Planned, Started, Step


class PlainProgress:
    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.numbers: dict[str, int] = {}
        self.started: dict[str, float] = {}
        self.partial: dict[str, bytes] = {}
        self.current = ""
        self.multi = False

    def __call__(self, event: Event) -> None:
        if isinstance(event, Planned):
            self.multi = len(event.targets) > 1
        elif isinstance(event, Noted):
            self._switch("")
            prefix = "WARNING: " if event.level == "warning" else ""
            self.out.write(f"{prefix}{event.text}\n")
        elif isinstance(event, Started):
            self.started[event.step.digest] = event.at
            self._head(event.step)
        elif isinstance(event, Cached):
            self._head(event.step)
            self.out.write(f"#{self._n(event.step)} CACHED\n")
        elif isinstance(event, Logged):
            self._head(event.step)
            data = self.partial.pop(event.step.digest, b"") + event.data
            *lines, rest = data.split(b"\n")
            if rest:
                self.partial[event.step.digest] = rest
            for line in lines:
                self._line(event.step, line, event.at)
        elif isinstance(event, Completed):
            self._head(event.step)
            rest = self.partial.pop(event.step.digest, b"")
            if rest:
                self._line(event.step, rest, event.at)
            n = self._n(event.step)
            took = event.at - self.started.get(event.step.digest, event.at)
            if not event.error:
                self.out.write(f"#{n} DONE {took:.1f}s\n")
            elif event.error == "cancelled":
                self.out.write(f"#{n} CANCELED\n")
            else:
                self.out.write(f"#{n} ERROR: {event.error}\n")
        self.out.flush()

    def _n(self, step: Step) -> int:
        if step.digest not in self.numbers:
            self.numbers[step.digest] = len(self.numbers) + 1
        return self.numbers[step.digest]

    def _head(self, step: Step) -> None:
        """Start the step's block unless it is the one being written."""
        if self.current == step.digest:
            return
        self._switch(step.digest)
        self.out.write(f"#{self._n(step)} {prefixed(step) if self.multi else step.name}\n")

    def _switch(self, digest: str) -> None:
        if self.current or self.numbers:
            self.out.write("\n")
        self.current = digest

    def _line(self, step: Step, line: bytes, at: float) -> None:
        t = at - self.started.get(step.digest, at)
        self.out.write(f"#{self._n(step)} {t:.3f} {line.decode(errors='replace').rstrip(chr(13))}\n")

    def close(self) -> None:
        self.out.flush()


def prefixed(step: Step) -> str:
    """``[base 1/2] RUN x`` → ``[api,web base 1/2] RUN x``; a name without a bracket gets its own.
    Targets are named once whatever their platforms; a step of one platform only names it."""
    names: list[str] = []
    platforms: set[str] = set()
    for label in step.targets:  # "name" or "name (os/arch)"
        name, _, platform = label.partition(" (")
        if name not in names:
            names.append(name)
        if platform:
            platforms.add(platform.rstrip(")"))
    if not names:
        return step.name
    who = ",".join(names[:3]) + (f",+{len(names) - 3}" if len(names) > 3 else "")
    if len(platforms) == 1:
        who += " " + platforms.pop()
    return f"[{who} {step.name[1:]}" if step.name.startswith("[") else f"[{who}] {step.name}"
