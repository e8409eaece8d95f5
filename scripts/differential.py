"""Differential test of bake's ``--call=targets`` and ``--call=check`` against recorded BuildKit answers.

The answers come from ``tests/fixtures/buildkit/calls/corpus.json`` (recorded by
``scripts/differential_record.py``); the corpus files themselves live outside the repository
(``--files``, one file per manifest ``id``; each is checked against its recorded sha256).

A file agrees for ``targets`` when bake prints the same text (or fails with the same message), and for
``check`` when bake finds the same warnings (rule, line, message) and fails where BuildKit fails, with
the same message (buildctl's text answers carry no error message: there, failing is enough). Base images get the
environment the reference was recorded with (only ``PATH``).

Usage: scripts/differential.py --files /work/corpus/files [--fixture F] [-v]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bake.dockerfile.calls import lint_answer, targets_answer
from bake.dockerfile.lint import ImageInfo

FIXTURE = Path(__file__).resolve().parents[1] / "tests/fixtures/buildkit/calls/corpus.json"
# the base image every FROM got when the answers were recorded (see scripts/differential_record.py)
BASE = ImageInfo(env=("PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",))


def compare_targets(text: str, ref: dict[str, Any]) -> str | None:
    """None when bake answers as the reference did, else a short reason."""
    if ref.get("skipped"):
        return None
    got, error = targets_answer(text)
    if ref["error"] is not None or error is not None:
        if ref["error"] != error:
            return f"error: reference {ref['error']!r}, bake {error!r}"
        return None
    if got != ref["text"]:
        return f"text: reference {ref['text']!r}, bake {got!r}"
    return None


def compare_check(text: str, ref: dict[str, Any]) -> str | None:
    got = lint_answer(text, lambda _ref, _platform: BASE)
    mine = Counter((w.rule, w.line, w.message) for w in got.warnings)
    theirs = Counter((w["rule"], w["line"], w["detail"]) for w in ref["warnings"])
    reasons = []
    if mine != theirs:
        missing = sorted(theirs - mine)
        extra = sorted(mine - theirs)
        reasons.append(f"warnings: missing {missing}, extra {extra}")
    theirs_error = ref["error"] and ref["error"]["message"]
    if theirs_error != got.error and not (ref["via"] == "buildctl-text" and theirs_error and got.error):
        reasons.append(f"error: reference {theirs_error!r}, bake {got.error!r}")
    return "; ".join(reasons) or None


def run(files: Path, entries: Iterable[dict[str, Any]]) -> dict[str, list[tuple[str, str | None]]]:
    results: dict[str, list[tuple[str, str | None]]] = {"targets": [], "check": []}
    for entry in entries:
        data = (files / entry["id"]).read_bytes()
        if hashlib.sha256(data).hexdigest() != entry["sha256"]:
            raise SystemExit(f"{entry['id']}: not the recorded file (sha256 differs)")
        text = data.decode("utf-8", "replace")
        results["targets"].append((entry["id"], compare_targets(text, entry["targets"])))
        results["check"].append((entry["id"], compare_check(text, entry["check"])))
    return results


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--files", default=os.environ.get("BAKE_CORPUS", "/work/corpus/files"))
    ap.add_argument("--fixture", default=str(FIXTURE))
    ap.add_argument("-v", "--verbose", action="store_true", help="print why each differing file differs")
    args = ap.parse_args()
    with open(args.fixture, encoding="utf-8") as f:
        entries = json.load(f)["files"]
    results = run(Path(args.files), entries)
    for method, rows in results.items():
        bad = [(fid, why) for fid, why in rows if why]
        print(f"--call={method}: {len(rows) - len(bad)}/{len(rows)} agree ({100 * (len(rows) - len(bad)) / len(rows):.1f} %)")
        for fid, why in bad:
            print(f"  differs: {fid}" + (f"\n      {why}" if args.verbose else ""))


if __name__ == "__main__":
    main()
