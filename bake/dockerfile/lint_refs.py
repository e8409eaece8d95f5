"""Small helpers the linter shares with BuildKit's wording: Go's ``%q``, its near-name suggestion, and
whether a string is an image reference Docker's reference grammar accepts."""

from __future__ import annotations

import re

_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_DOMAIN_PART = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_DOMAIN = rf"(?:{_DOMAIN_PART}(?:\.{_DOMAIN_PART})*|\[[0-9a-fA-F:.]+\])(?::[0-9]+)?"
_TAG = r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}"
_DIGEST = r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9A-Fa-f]{32,}"
_REFERENCE = re.compile(rf"^(?:{_DOMAIN}/)?{_COMPONENT}(?:/{_COMPONENT})*(?::{_TAG})?(?:@{_DIGEST})?$")
_IDENTIFIER = re.compile(r"^[a-f0-9]{64}$")


def valid_reference(ref: str) -> bool:
    """What Docker's ``ParseNormalizedNamed`` accepts: a lower-case path, a domain only where the first
    component looks like one (has ``.`` or ``:``, or is ``localhost``), an optional tag and digest."""
    if not ref or _IDENTIFIER.match(ref) or len(ref.split("@")[0].split(":")[0]) > 255:
        return False
    first, _, rest = ref.partition("/")
    if rest and not ("." in first or ":" in first or first == "localhost") and first != first.lower():
        return False
    return bool(_REFERENCE.match(ref))


def reference_error(ref: str) -> str:
    """Why ``ref`` is not a valid reference, in the words of Docker's reference parser."""
    lower = ref.lower()
    if ref != lower and valid_reference(lower):
        first, _, rest = ref.partition("/")
        domain = bool(rest) and ("." in first or ":" in first or first == "localhost")
        path = (rest if domain else ref).split("@")[0]
        path = path.rsplit(":", 1)[0] if ":" in path.rsplit("/", 1)[-1] else path
        if not domain and "/" not in path:
            path = "library/" + path
        return f"invalid reference format: repository name ({path}) must be lowercase"
    return "invalid reference format"


def go_quote(text: str) -> str:
    """Go's ``%q`` for the strings the rules quote."""
    body = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\t", "\\t").replace("\r", "\\r")
    return f'"{body}"'


def levenshtein_suggest(value: str, options: list[str]) -> str:
    """The option nearest ``value`` (edit distance under 3, the first of the nearest); "" when an
    option equals it or none is near."""
    best, best_distance = "", 3
    for option in options:
        if option == value:
            return ""
        d = _distance(value, option)
        if d < best_distance:
            best, best_distance = option, d
    return best


def _distance(a: str, b: str) -> int:
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        prev = cur
    return prev[-1]
