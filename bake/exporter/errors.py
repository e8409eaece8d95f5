"""How an output fails: one ``ExportError`` (or ``NoSpaceError``) naming the output, never an
``OSError``; and an output written from a damaged blob is repaired and written again, never left
half-written or written as it is."""

from __future__ import annotations

import contextlib
import errno
import os
import re
from collections.abc import Callable, Iterator

from bake.content.atomic import NoSpaceError
from bake.content.store import CorruptContent
from bake.errors import BakeError

Repair = Callable[[CorruptContent], bool]  # drops a damaged blob and makes it again; whether the same bytes are back


class ExportError(BakeError):
    """An output could not be written."""


@contextlib.contextmanager
def output_errors(what: str) -> Iterator[None]:
    """An output that cannot be written is one located error (``what`` names it), never an OSError."""
    try:
        yield
    except NoSpaceError as err:
        raise NoSpaceError(err.path, what) from err
    except OSError as err:
        path = _TEMP_SUFFIX.sub("", str(err.filename)) if err.filename else ""  # the temp file stands for its target
        if err.errno == errno.EISDIR:
            raise ExportError(f"{what}: {path or 'dest'} is a directory; this output writes a file there") from err
        if err.errno in (errno.EEXIST, errno.ENOTDIR) and path and not os.path.isdir(path):
            raise ExportError(f"{what}: {path} is a file, so nothing can be written below it") from err
        where = f" ({path})" if path else ""
        raise ExportError(f"{what}: {err.strerror or err}{where}") from err


_TEMP_SUFFIX = re.compile(r"\.\d+\.\d+\.\d+\.tmp$")


def restoring(repair: Repair | None, what: str, write: Callable[[], object]) -> None:
    """``write`` an output whose images are already assembled; a damaged blob is made again with
    the same bytes (the images name it) and the output written again."""
    seen: set[str] = set()
    while True:
        try:
            with output_errors(what):
                write()
            return
        except CorruptContent as err:
            if err.digest in seen or repair is None or not repair(err):
                raise ExportError(f"{what}: {err.message}; it could not be made again") from err
            seen.add(err.digest)
