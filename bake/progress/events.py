"""What a build reports while it runs: frozen events, past participles, sent to a ``Sink``.

The solver emits them; renderers (``plain``, ``rawjson``, ``tty``, ``quiet``) and the Python API's
callback consume them. A step is identified by its vertex digest: a step shared by several targets
is one step, and ``targets`` names every target (and platform) that needs it.
"""

from __future__ import annotations

from collections.abc import Callable

from bake._record import record


@record
class Step:
    digest: str
    name: str
    targets: tuple[str, ...] = ()
    location: str = ""  # "Dockerfile:12" or "Dockerfile:12-14": the instruction it came from; "" unknown
    key: str = ""  # the cache key its result is stored under; "" unknown


@record
class Planned:
    """A solve begins: the targets (labels) it builds, how many distinct steps they need in all,
    and how many each needs (``sizes``, in target order; shared steps count for each). ``limits``
    are the steps that may run at once per resource (``(("exec", 16), ("fetch", 4))``); empty: unknown."""

    targets: tuple[str, ...]
    steps: int
    at: float
    sizes: tuple[int, ...] = ()
    limits: tuple[tuple[str, int], ...] = ()


@record
class Started:
    step: Step
    at: float


@record
class Cached:
    """A step's result came from the cache; ``took`` is how long the step ran when it was stored
    (seconds; None when unknown)."""

    step: Step
    at: float
    took: float | None = None


@record
class Logged:
    """Output of a running step (stdout and stderr interleaved, as the process wrote them)."""

    step: Step
    data: bytes
    at: float


@record
class Completed:
    """A started step ended; ``error`` is empty on success."""

    step: Step
    at: float
    error: str = ""


@record
class Built:
    """A target (label) has its result, or failed (``error``); its outputs are written after."""

    target: str
    at: float
    error: str = ""


@record
class Noted:
    """A message for the user: a warning, an exported output, or with ``step``, a note about that
    step (``--explain``: why it ran; the text names the step, so a renderer may print it as is)."""

    text: str
    at: float
    level: str = "info"  # info | warning
    step: Step | None = None


Event = Planned | Started | Cached | Logged | Completed | Built | Noted
Sink = Callable[[Event], None]


def discard(event: Event) -> None:
    """A sink that ignores everything (the default of the Python API)."""
