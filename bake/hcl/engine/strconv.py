"""Go's ``encoding/csv`` and ``strconv.ParseBool``, as buildx reads strings from flags and the environment.

Typed variable overrides (``list(string)`` from ``A,B``, ``bool`` from ``t``) and bake's flag forms
(``type=local,dest=out``) both use them, with Go's messages.
"""

from __future__ import annotations

import csv


class FlagError(ValueError):
    """A malformed flag or override string; the message matches buildx's."""


def csv_fields(s: str) -> list[str]:
    try:
        rows = list(csv.reader([s], skipinitialspace=False, strict=True))
    except csv.Error as err:
        raise FlagError(f"failed to parse csv: {err}") from None
    return rows[0] if rows else []


_TRUE = {"1", "t", "T", "TRUE", "true", "True"}
_FALSE = {"0", "f", "F", "FALSE", "false", "False"}


def parse_go_bool(s: str) -> bool:
    if s in _TRUE:
        return True
    if s in _FALSE:
        return False
    raise FlagError(f'strconv.ParseBool: parsing "{s}": invalid syntax')
