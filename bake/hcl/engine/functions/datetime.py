"""Time functions: ``timestamp``, ``formatdate``, ``formattimestamp``, ``timeadd``, ``unixtimestampparse``."""

from __future__ import annotations

import datetime as dt
import re

from bake.hcl.engine.eval import FunctionError
from bake.hcl.engine.functions.registry import Library, p
from bake.hcl.engine.values import ANY, NUMBER, STRING, is_number

lib = Library()

_RFC3339 = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$"
)


def parse_rfc3339(s: str, arg: int = 0) -> dt.datetime:
    m = _RFC3339.match(s)
    if not m:
        raise FunctionError(f'not a valid RFC3339 timestamp: cannot use "{s}" as year', arg=arg)
    y, mo, d, h, mi, se = (int(m.group(i)) for i in range(1, 7))
    frac = m.group(7) or ""
    micro = int((frac[1:] + "000000")[:6]) if frac else 0
    zone = m.group(8)
    tz = dt.UTC if zone in ("Z", "z") else dt.timezone(
        (1 if zone[0] == "+" else -1) * dt.timedelta(hours=int(zone[1:3]), minutes=int(zone[4:6]))
    )
    try:
        return dt.datetime(y, mo, d, h, mi, se, micro, tzinfo=tz)
    except ValueError as err:
        raise FunctionError(f"not a valid RFC3339 timestamp: {err}", arg=arg) from None


def format_rfc3339(t: dt.datetime) -> str:
    off = t.utcoffset()
    base = t.strftime("%Y-%m-%dT%H:%M:%S")
    if t.microsecond:
        base += ("." + f"{t.microsecond:06d}").rstrip("0")
    if not off:
        return base + "Z"
    total = int(off.total_seconds())
    sign = "+" if total >= 0 else "-"
    total = abs(total)
    return f"{base}{sign}{total // 3600:02d}:{total % 3600 // 60:02d}"


@lib.define("timestamp")
def timestamp() -> str:
    return format_rfc3339(dt.datetime.now(dt.UTC).replace(microsecond=0))


_TOKENS = re.compile(r"'[^']*'|YYYY|YY|MMMM|MMM|MM|M|DD|D|EEEE|EEE|hh|h|HH|H|mm|m|ss|s|aa|AA|ZZZZZ|ZZZZ|ZZZ|Z|[A-Za-z]+|.", re.S)


@lib.define("formatdate", p("format", STRING), p("time", STRING))
def formatdate(fmt: str, when: str) -> str:
    return _format(fmt, parse_rfc3339(when, arg=1))


def _format(fmt: str, t: dt.datetime) -> str:
    out = []
    for tok in _TOKENS.findall(fmt):
        out.append(_token(tok, t))
    return "".join(out)


def _token(tok: str, t: dt.datetime) -> str:
    if tok.startswith("'"):
        return "'" if tok == "''" else tok[1:-1]
    off = int((t.utcoffset() or dt.timedelta()).total_seconds())
    sign, a = ("+" if off >= 0 else "-"), abs(off)
    table = {
        "YYYY": f"{t.year:04d}", "YY": f"{t.year % 100:02d}",
        "MMMM": t.strftime("%B"), "MMM": t.strftime("%b"), "MM": f"{t.month:02d}", "M": str(t.month),
        "DD": f"{t.day:02d}", "D": str(t.day), "EEEE": t.strftime("%A"), "EEE": t.strftime("%a"),
        "hh": f"{t.hour:02d}", "h": str(t.hour), "HH": f"{(t.hour % 12) or 12:02d}", "H": str((t.hour % 12) or 12),
        "mm": f"{t.minute:02d}", "m": str(t.minute), "ss": f"{t.second:02d}", "s": str(t.second),
        "aa": "am" if t.hour < 12 else "pm", "AA": "AM" if t.hour < 12 else "PM",
        "ZZZZZ": "Z" if off == 0 else f"{sign}{a // 3600:02d}:{a % 3600 // 60:02d}",
        "ZZZZ": f"{sign}{a // 3600:02d}{a % 3600 // 60:02d}",
        "ZZZ": "UTC" if off == 0 else f"{sign}{a // 3600:02d}{a % 3600 // 60:02d}",
        "Z": "Z" if off == 0 else f"{sign}{a // 3600:02d}:{a % 3600 // 60:02d}",
    }
    if tok in table:
        return table[tok]
    if tok[0].isalpha():
        raise FunctionError(f'invalid date format verb "{tok}": unrecognized format verb', arg=0)
    return tok


@lib.define("formattimestamp", p("format", STRING), p("time", ANY))
def formattimestamp(fmt: str, when: object) -> str:
    """Like ``formatdate``, also accepting a unix timestamp; the whole format ``X`` gives unix seconds."""
    if is_number(when):
        t = dt.datetime.fromtimestamp(_unix_seconds(when), dt.UTC)
    elif isinstance(when, str):
        try:
            t = parse_rfc3339(when, arg=1)
        except FunctionError:
            raise FunctionError("timestamp string must be RFC3339", arg=1) from None
    else:
        raise FunctionError("must be a string timestamp or a unix timestamp number", arg=1)
    if fmt == "X":
        return str(int(t.timestamp()))
    return _format(fmt, t)


def _unix_seconds(v: object) -> int:
    if not isinstance(v, int) or isinstance(v, bool):
        raise FunctionError("unix timestamp must be a whole number", arg=1)
    return v


_DURATION = re.compile(r"([0-9]*(?:\.[0-9]*)?)(ns|us|µs|ms|s|m|h)")
_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1, "m": 60, "h": 3600}


@lib.define("timeadd", p("timestamp", STRING), p("duration", STRING))
def timeadd(when: str, duration: str) -> str:
    t = parse_rfc3339(when)
    d = duration.strip()
    neg = d.startswith("-")
    body = d.lstrip("+-")
    pos, seconds = 0, 0.0
    while pos < len(body):
        m = _DURATION.match(body, pos)
        if not m or not m.group(1) or m.group(1) == ".":
            raise FunctionError(f'time: invalid duration "{duration}"', arg=1)
        seconds += float(m.group(1)) * _UNITS[m.group(2)]
        pos = m.end()
    if not body:
        raise FunctionError(f'time: invalid duration "{duration}"', arg=1)
    return format_rfc3339(t + dt.timedelta(seconds=-seconds if neg else seconds))


def _time_object(t: dt.datetime) -> dict[str, object]:
    iso = t.isocalendar()
    return {
        "year": t.year, "year_day": t.timetuple().tm_yday, "day": t.day, "month": t.month,
        "month_name": t.strftime("%B"), "weekday": (t.weekday() + 1) % 7, "weekday_name": t.strftime("%A"),
        "hour": t.hour, "minute": t.minute, "second": t.second, "rfc3339": format_rfc3339(t),
        "iso_year": iso[0], "iso_week": iso[1],
    }


@lib.define("unixtimestampparse", p("unix_timestamp", NUMBER))
def unixtimestampparse(ts: int) -> dict[str, object]:
    return _time_object(dt.datetime.fromtimestamp(_unix_seconds(ts), dt.UTC))
