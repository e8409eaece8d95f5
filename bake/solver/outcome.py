"""What solving a root ends with (shared by the scheduler and the all-cached check)."""

from __future__ import annotations

from bake._record import record
from bake.errors import BakeError


@record
class Outcome:
    """One root's end: its result (None for an empty filesystem or a failure) or its error."""

    label: str
    result: str | None
    error: BakeError | None = None
    executed: int = 0  # steps this root needed that ran in this solve
    cached: int = 0  # steps this root needed that came from the cache


class CancelledError(BakeError):
    """A root was not finished because another one failed first (without ``keep_going``)."""
