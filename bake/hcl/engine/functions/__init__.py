"""The function library of bake files: every function buildx v0.36 registers, by name.

Modules are imported on first use: most bake files call a handful of functions, and importing
all six modules (hashlib, ipaddress, csv, …) costs more than a small ``bake --print`` may take.
``tests/unit/hcl/test_functions.py`` checks that this index matches the modules.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator, Mapping

from bake.hcl.engine.eval import Function

_INDEX_TEXT = {
    "collections": """
        can chunklist coalesce coalescelist compact concat contains convert distinct element flatten
        hasindex index indexof keys length lookup merge reverselist sethaselement setintersection setproduct
        setsubtract setsymmetricdifference setunion slice sort try values zipmap
    """,
    "datetime": """
        formatdate formattimestamp timeadd timestamp unixtimestampparse
    """,
    "encoding": """
        base64decode base64encode basename bcrypt byteslen bytesslice csvdecode dirname homedir jsondecode
        jsonencode md5 rsadecrypt sha1 sha256 sha512 urlencode uuidv4 uuidv5
    """,
    "net": """
        cidrhost cidrnetmask cidrsubnet cidrsubnets
    """,
    "numeric": """
        absolute add and ceil divide equal floor greaterthan greaterthanorequalto int lessthan
        lessthanorequalto log max min modulo multiply negate not notequal or parseint pow range semvercmp
        signum subtract
    """,
    "strings": """
        chomp format formatlist indent join lower regex regex_replace regexall replace reverse sanitize
        split strlen substr title trim trimprefix trimspace trimsuffix upper
    """,
}
INDEX: dict[str, str] = {name: module for module, names in _INDEX_TEXT.items() for name in names.split()}


class _Library(Mapping[str, Function]):
    """name → function, importing the defining module on first lookup."""

    def __init__(self) -> None:
        self._loaded: dict[str, Function] = {}

    def __getitem__(self, name: str) -> Function:
        fn = self._loaded.get(name)
        if fn is None:
            module = importlib.import_module(f"bake.hcl.engine.functions.{INDEX[name]}")
            table: dict[str, Function] = module.lib.table
            self._loaded.update(table)
            fn = table[name]
        return fn

    def __iter__(self) -> Iterator[str]:
        return iter(INDEX)

    def __len__(self) -> int:
        return len(INDEX)

    def __contains__(self, name: object) -> bool:
        return name in INDEX


STDLIB: Mapping[str, Function] = _Library()

__all__ = ["INDEX", "STDLIB"]
