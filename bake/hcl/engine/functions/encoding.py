"""Encoding, hashing, path and identity functions (base64, JSON, CSV, URL, sha*, uuid, bcrypt…)."""

from __future__ import annotations

import base64
import binascii
import csv
import hashlib
import io
import json
import os
import posixpath
import urllib.parse
import uuid
from decimal import Decimal

from bake.hcl.engine.eval import FunctionError
from bake.hcl.engine.functions.registry import Library, p
from bake.hcl.engine.values import (
    ANY,
    NUMBER,
    STRING,
    escape_html,
    format_number,
    from_json,
)

lib = Library()


def json_encode(v: object) -> str:
    """cty's jsonencode: compact, keys sorted, Go's HTML-safe escaping."""
    return escape_html(json.dumps(_jsonable(v), separators=(",", ":"), sort_keys=True, ensure_ascii=False))


class _RawNumber(float):
    """Lets json.dumps print an exact decimal (float subclass with a custom repr)."""

    def __new__(cls, text: str) -> _RawNumber:
        obj = super().__new__(cls, float(text))
        obj.text = text  # type: ignore[attr-defined]
        return obj

    def __repr__(self) -> str:
        return self.text  # type: ignore[attr-defined,no-any-return]


def _jsonable(v: object) -> object:
    if isinstance(v, Decimal):
        return _RawNumber(format_number(v))
    if isinstance(v, list):
        return [_jsonable(x) for x in v]
    if isinstance(v, dict):
        return {k: _jsonable(x) for k, x in v.items()}
    return v


@lib.define("jsonencode", p("val", ANY, True))
def jsonencode(v: object) -> str:
    return json_encode(v)


@lib.define("jsondecode", p("str", STRING))
def jsondecode(s: str) -> object:
    try:
        return from_json(json.loads(s, parse_float=Decimal, parse_int=int))
    except json.JSONDecodeError as err:
        raise FunctionError(f"invalid JSON: {err.msg}", arg=0) from None


@lib.define("csvdecode", p("str", STRING))
def csvdecode(s: str) -> list[dict[str, str]]:
    rows = list(csv.reader(io.StringIO(s)))
    if not rows:
        raise FunctionError("missing header line")
    header = rows[0]
    out = []
    for i, row in enumerate(rows[1:], start=2):
        if len(row) != len(header):
            raise FunctionError(f"record on line {i}: wrong number of fields")
        out.append(dict(zip(header, row, strict=True)))
    return out


@lib.define("base64encode", p("str", STRING))
def base64encode(s: str) -> str:
    return base64.b64encode(s.encode()).decode()


@lib.define("base64decode", p("str", STRING))
def base64decode(s: str) -> str:
    try:
        raw = base64.b64decode(s, validate=True)
    except (binascii.Error, ValueError):
        raise FunctionError("failed to decode base64 data", arg=0) from None
    try:
        return raw.decode()
    except UnicodeDecodeError:
        raise FunctionError("the result of decoding the provided string is not valid UTF-8", arg=0) from None


@lib.define("urlencode", p("str", STRING))
def urlencode(s: str) -> str:
    return urllib.parse.quote_plus(s, safe="")


@lib.define("md5", p("str", STRING))
def md5(s: str) -> str:
    return hashlib.md5(s.encode()).hexdigest()


@lib.define("sha1", p("str", STRING))
def sha1(s: str) -> str:
    return hashlib.sha1(s.encode()).hexdigest()


@lib.define("sha256", p("str", STRING))
def sha256(s: str) -> str:
    return hashlib.sha256(s.encode()).hexdigest()


@lib.define("sha512", p("str", STRING))
def sha512(s: str) -> str:
    return hashlib.sha512(s.encode()).hexdigest()


@lib.define("uuidv4")
def uuidv4() -> str:
    return str(uuid.uuid4())


@lib.define("uuidv5", p("namespace", STRING), p("name", STRING))
def uuidv5(namespace: str, name: str) -> str:
    spaces = {"dns": uuid.NAMESPACE_DNS, "url": uuid.NAMESPACE_URL, "oid": uuid.NAMESPACE_OID, "x500": uuid.NAMESPACE_X500}
    if namespace in spaces:
        ns = spaces[namespace]
    else:
        try:
            ns = uuid.UUID(namespace)
        except ValueError:
            raise FunctionError(f"uuidv5() doesn't support namespace {namespace}", arg=0) from None
    return str(uuid.uuid5(ns, name))


@lib.define("bcrypt", p("str", STRING), variadic=p("cost", NUMBER))
def bcrypt(s: str, *cost: int) -> str:
    import bcrypt as _bcrypt

    if len(cost) > 1:
        raise FunctionError("bcrypt() takes no more than two arguments")
    rounds = int(cost[0]) if cost else 10
    if not 4 <= rounds <= 31:
        raise FunctionError(f"crypto/bcrypt: cost {rounds} is outside allowed range (4,31)", arg=1)
    # Go's bcrypt writes the $2a$ prefix; the hash itself is the same algorithm.
    return _bcrypt.hashpw(s.encode(), _bcrypt.gensalt(rounds, prefix=b"2a")).decode()


@lib.define("rsadecrypt", p("ciphertext", STRING), p("privatekey", STRING))
def rsadecrypt(ciphertext: str, key: str) -> str:
    from bake.hcl.engine.functions.rsa import decrypt

    return decrypt(ciphertext, key)


@lib.define("byteslen", p("buf", STRING))
def byteslen(s: str) -> int:
    return len(s.encode())


@lib.define("bytesslice", p("buf", STRING), p("offset", NUMBER), p("length", NUMBER))
def bytesslice(s: str, offset: int, length: int) -> str:
    raw = s.encode()
    o, n = int(offset), int(length)
    if o < 0 or n < 0 or o + n > len(raw):
        raise FunctionError("offset or length out of range")
    return raw[o : o + n].decode(errors="replace")


@lib.define("basename", p("path", STRING))
def basename(s: str) -> str:
    if s == "":
        return "."
    stripped = s.rstrip("/")
    return posixpath.basename(stripped) if stripped else "/"


@lib.define("dirname", p("path", STRING))
def dirname(s: str) -> str:
    if s == "":
        return "."
    d = posixpath.dirname(s.rstrip("/") or "/")
    return posixpath.normpath(d) if d else "."


@lib.define("homedir")
def homedir() -> str:
    return os.path.expanduser("~")

