"""What the config-only instructions put in the image config and its history, as BuildKit writes
them: Go's quoting of CMD/ENTRYPOINT, ENV keeping a variable's place, WORKDIR's path rule,
HEALTHCHECK's nanosecond durations and Go's %+v text."""

from __future__ import annotations

import posixpath

from bake._record import replace
from bake.content.imageconfig import ImageConfig
from bake.dockerfile import instructions as ins

_GO_ESCAPES = {"\\": "\\\\", '"': '\\"', "\a": "\\a", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r",
               "\t": "\\t", "\v": "\\v"}


def go_quoted(args: tuple[str, ...]) -> str:
    """``["a" "b c"]``: Go's ``%q`` of a string list, as BuildKit writes CMD and ENTRYPOINT history."""
    def quote(text: str) -> str:
        out = "".join(_GO_ESCAPES.get(ch) or (f"\\x{ord(ch):02x}" if ord(ch) < 0x20 or ord(ch) == 0x7F else ch)
                      for ch in text)
        return f'"{out}"'

    return "[" + " ".join(quote(a) for a in args) + "]"


def workdir_of(current: str, path: str) -> str:
    """BuildKit's working directory: an absolute path as written (a trailing "/" kept), a relative
    one joined to the current directory and cleaned, as Go's path.Join."""
    if path.startswith("/"):
        return path
    joined = posixpath.normpath(posixpath.join("/", current or "/", path))
    return "/" + joined.lstrip("/")  # POSIX keeps a leading "//", Go does not


def set_env(env: tuple[str, ...], name: str, value: str) -> tuple[str, ...]:
    """``name=value`` in place of an earlier value (BuildKit keeps its position), else at the end."""
    item = f"{name}={value}"
    if any(e.partition("=")[0] == name for e in env):
        return tuple(item if e.partition("=")[0] == name else e for e in env)
    return (*env, item)


def healthcheck(inst: ins.Healthcheck, config: ImageConfig) -> tuple[ImageConfig, str]:
    """The config's Healthcheck (durations in nanoseconds, zero values left out, as Docker's JSON)
    and BuildKit's history text (Go's ``%+v`` of the health config)."""
    from bake.dockerfile.durations import format_ns, parse

    test = ("NONE",) if inst.command is None else (
        ("CMD-SHELL", *inst.command.args) if inst.command.shell else ("CMD", *inst.command.args))
    times = {k: parse(v) if v else 0 for k, v in (("Interval", inst.interval), ("Timeout", inst.timeout),
                                                  ("StartPeriod", inst.start_period),
                                                  ("StartInterval", inst.start_interval))}
    retries = inst.retries or 0
    hc = (("Test", test), *((k, v) for k, v in times.items() if v), *((("Retries", retries),) if retries else ()))
    text = (f"HEALTHCHECK {{Test:[{' '.join(test)}] " + " ".join(f"{k}:{format_ns(v)}" for k, v in times.items())
            + f" Retries:{retries}}}")
    return replace(config, healthcheck=hc), text
