"""``RUN --mount=…`` options, parsed as BuildKit's Dockerfile frontend parses them."""

from __future__ import annotations

import csv
from collections.abc import Callable

from bake._record import record
from bake.errors import DockerfileError

Fail = Callable[[str], DockerfileError]
MOUNT_TYPES = ("bind", "cache", "tmpfs", "secret", "ssh")
SHARING = ("shared", "private", "locked")


@record
class Mount:
    """One mount of a RUN step. Unset options are None; ``mode``/``uid``/``gid`` are numbers;
    ``readonly`` already holds the type's default (bind mounts are read-only unless ``rw``)."""

    type: str
    target: str | None = None
    source: str | None = None
    from_: str | None = None
    readonly: bool = False
    id: str | None = None
    sharing: str | None = None
    mode: int | None = None
    uid: int | None = None
    gid: int | None = None
    required: bool = False
    env: str | None = None
    size: int | None = None


def parse_mount(spec: str, fail: Fail) -> Mount:
    try:
        fields = next(csv.reader([spec]))
    except (csv.Error, StopIteration):
        raise fail(f"invalid mount {spec!r}") from None
    opts: dict[str, object] = {"type": "bind"}
    rw_given = False
    for field in fields:
        key, sep, value = field.partition("=")
        key = key.strip().lower()
        if not sep:
            if key in ("readonly", "ro"):
                opts["readonly"] = True
                continue
            if key in ("readwrite", "rw"):
                opts["readonly"], rw_given = False, True
                continue
            if key == "required":
                opts["required"] = True
                continue
            raise fail(f"invalid field '{field}' must be a key=value pair")
        if key == "type":
            if value not in MOUNT_TYPES:
                raise fail(f"unsupported mount type {value!r}")
            opts["type"] = value
        elif key in ("target", "dst", "destination"):
            opts["target"] = value
        elif key in ("source", "src"):
            opts["source"] = value
        elif key == "from":
            opts["from_"] = value
        elif key in ("readonly", "ro", "readwrite", "rw", "required"):
            b = _bool(value, field, fail)
            if key in ("readwrite", "rw"):
                opts["readonly"], rw_given = not b, True
            else:
                opts["readonly" if key != "required" else "required"] = b
        elif key == "id":
            opts["id"] = value
        elif key == "sharing":
            if value not in SHARING:
                raise fail(f"unsupported sharing value {value!r}")
            opts["sharing"] = value
        elif key == "mode":
            try:
                opts["mode"] = int(value, 8)
            except ValueError:
                raise fail(f"invalid value for mode: {value!r}") from None
        elif key in ("uid", "gid", "size"):
            try:
                opts[key] = _size(value) if key == "size" else int(value)
            except ValueError:
                raise fail(f"invalid value for {key}: {value!r}") from None
        elif key == "env":
            opts["env"] = value
        else:
            raise fail(f"unexpected key '{key}' in '{field}'")
    if opts["type"] == "bind" and not rw_given and "readonly" not in opts:
        opts["readonly"] = True  # bind mounts are read-only unless `rw`
    mount = Mount(**opts)  # type: ignore[arg-type]
    _validate(mount, rw_given, fail)
    return mount


def _validate(m: Mount, rw_given: bool, fail: Fail) -> None:
    if m.type == "secret" and not (m.id or m.target or m.env):
        raise fail("secret mount requires an id, a target or an env")
    if m.sharing is not None and m.type != "cache":
        raise fail("sharing is only supported for cache mounts")
    if m.type == "tmpfs" and (m.source or m.from_):
        raise fail("tmpfs mounts do not accept a source")
    if rw_given and m.type in ("secret", "ssh"):
        raise fail(f"{m.type} mounts are always read-only")


def _bool(value: str, field: str, fail: Fail) -> bool:
    v = value.lower()
    if v in ("1", "t", "true"):
        return True
    if v in ("0", "f", "false"):
        return False
    raise fail(f"invalid value for {field.partition('=')[0]}: {value}")


_UNITS = {"": 1, "b": 1, "k": 1024, "kb": 1024, "m": 1024**2, "mb": 1024**2, "g": 1024**3, "gb": 1024**3}


def _size(value: str) -> int:
    v = value.strip().lower()
    num = v.rstrip("kmgb")
    unit = v[len(num):]
    if not num.isdigit() or unit not in _UNITS:
        raise ValueError(value)
    return int(num) * _UNITS[unit]
