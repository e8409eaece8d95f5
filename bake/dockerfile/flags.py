"""An instruction's ``--flags`` with BuildKit's rules (its ``BFlags``): the flags each instruction
takes and their kinds, a value where one is needed, no repeats but of list flags, and a misspelt
flag refused with the known one it is near.
"""

from __future__ import annotations

from bake.dockerfile.mounts import Fail
from bake.dockerfile.parser import Node

# instruction → {flag: kind}; kind is "string", "bool" or "list" (repeatable)
FLAGS: dict[str, dict[str, str]] = {
    "from": {"platform": "string"},
    "run": {"mount": "list", "network": "string", "security": "string"},
    "copy": {"from": "string", "chown": "string", "chmod": "string", "link": "bool", "parents": "bool", "exclude": "list"},
    "add": {"chown": "string", "chmod": "string", "link": "bool", "keep-git-dir": "bool", "checksum": "string",
            "exclude": "list", "unpack": "bool"},
    "healthcheck": {"interval": "string", "timeout": "string", "start-period": "string", "start-interval": "string",
                    "retries": "string"},
}


def parse_flags(node: Node, fail: Fail) -> dict[str, object]:
    """The flags of ``node`` by name: a string, a bool, or every value of a list flag in order; a flag
    BuildKit refuses raises ``fail``'s error."""
    known = FLAGS.get(node.keyword, {})
    out: dict[str, object] = {}
    for raw in node.flags:
        name, sep, value = raw[2:].partition("=")
        kind = known.get(name)
        if kind is None:  # BuildKit's words: the flag as written, and the near known one
            import difflib

            near = difflib.get_close_matches(name, sorted(known), n=1, cutoff=0.6)
            raise fail(f"unknown flag: --{name}" + (f" (did you mean {near[0]}?)" if near else ""))
        if kind == "bool":
            if sep and value.lower() not in ("true", "false"):
                raise fail(f"expecting boolean value for flag {name}, not: {value}")
            if name in out:
                raise fail(f"Duplicate flag specified: {name}")
            out[name] = not sep or value.lower() == "true"
        elif kind == "list":
            if not sep:
                raise fail(f"Missing a value on flag: {name}")
            out.setdefault(name, [])
            out[name].append(value)  # type: ignore[attr-defined]
        else:
            if not sep:
                raise fail(f"Missing a value on flag: {name}")
            if name in out:
                raise fail(f"Duplicate flag specified: {name}")
            out[name] = value
    return out


def flag_list(flags: dict[str, object], name: str) -> list[str]:
    """The values of list flag ``name`` (none when it was not given)."""
    value = flags.get(name, [])
    assert isinstance(value, list)
    return value
