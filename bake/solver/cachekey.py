"""Cache keys: what a vertex's result depends on, as one digest.

key = sha256(version, identity, salt, the keys of the inputs the salt does not replace). The
identity already covers the op and its inputs' identities; the input keys add what the inputs'
results depend on (resolved images, context files), so a change anywhere upstream is a miss.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence

from bake.solver.protocols import Salt

# Bumped whenever a result stored under a key would no longer be what the same inputs give — the
# key layout here, or the worker's semantics (v2: COPY keeps a source's owners and hard links, ADD
# <url> names its file as BuildKit does), so an old root's results are not taken for new ones.
KEY_VERSION = 2


def cache_key(identity: str, salt: Salt, input_keys: Sequence[str | None]) -> str:
    inputs = [k for n, k in enumerate(input_keys) if n not in salt.replaces]
    text = json.dumps([KEY_VERSION, identity, salt.text, inputs], separators=(",", ":"))
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


def executed_key(key: str, result: str) -> str:
    """The key dependents see for a vertex that ran regardless of its cache (``no-cache``): it
    names this run's result, so everything downstream runs again too."""
    return "sha256:" + hashlib.sha256(f"{key} ran {result}".encode()).hexdigest()
