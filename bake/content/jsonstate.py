"""Small JSON state files under the root (``layerblobs.json``, ``resolved.json``, ``statcache.json``…):
a map of records, read defensively and written atomically.

Every such file is a cache of something bake can find out again, so a damaged one is a miss, never
an error: a file that is not a JSON object reads as empty, and an entry of the wrong shape is left
out. ``load_map`` says whether it dropped anything, so the owner can warn once.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

from bake.content.atomic import write_atomic

DIGEST = re.compile(r"sha256:[0-9a-f]{64}")


def is_digest(value: object) -> bool:
    return isinstance(value, str) and DIGEST.fullmatch(value) is not None


def is_descriptor(value: object) -> bool:
    """An OCI descriptor as ``Descriptor.from_json`` reads it."""
    return (isinstance(value, dict) and isinstance(value.get("mediaType"), str) and is_digest(value.get("digest"))
            and isinstance(value.get("size"), int) and not isinstance(value.get("size"), bool)
            and value["size"] >= 0)


def load_map(path: str, valid: Callable[[str, Any], bool],
             notes: list[str] | None = None) -> tuple[dict[str, Any], bool]:
    """(the entries of ``path`` that ``valid`` accepts, whether anything was damaged). A missing file
    is an empty map and not damage; damage is described in ``notes`` when given."""
    try:
        with open(path, "rb") as f:
            raw = json.loads(f.read())
    except FileNotFoundError:
        return {}, False
    except (OSError, ValueError):  # unreadable, not JSON, not UTF-8
        raw = None
    good = {k: v for k, v in raw.items() if valid(k, v)} if isinstance(raw, dict) else {}
    damaged = not isinstance(raw, dict) or len(good) != len(raw)
    if damaged and notes is not None:
        what = "is not a JSON object" if not isinstance(raw, dict) else f"has {len(raw) - len(good)} damaged entries"
        note = f"{path} {what}; read as a cache miss and rewritten"
        if note not in notes:
            notes.append(note)
    return good, damaged


def save_map(path: str, data: dict[str, Any]) -> None:
    write_atomic(path, json.dumps(data, sort_keys=True).encode())
