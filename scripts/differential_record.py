"""Record the reference BuildKit's ``--call=targets`` / ``--call=check`` answers for a Dockerfile corpus.

Runs outside CI, against a reference buildx + BuildKit (``source /work/ref/env.sh``); writes the golden
fixture that ``scripts/differential.py`` and ``tests/unit/dockerfile/test_calls_corpus.py`` compare bake
against. The corpus files stay outside the repository: ``--manifest`` lists them (repo, path, commit,
sha256) and ``--files`` holds their text, one file per manifest ``id``.

How the reference is asked, so that it runs offline and answers the same on every run:

- every base image is replaced by a named context pointing at one local image whose config has only
  ``PATH`` in ``Env`` (``--base``); the names are found by retrying on "not found", so no registry
  data of the real images is involved (bake's runner gives its linter the same base-image env);
- a file with a ``# syntax=`` directive goes through ``buildctl`` with the frontend option
  ``cmdline=`` (BuildKit would otherwise forward it to a frontend image it cannot pull here); its
  check answer is the text form (warnings only), the others are buildx's JSON (warnings and error).

Usage: scripts/differential_record.py --manifest M.json --files DIR --out tests/fixtures/buildkit/calls/corpus.json
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

_NOT_FOUND = re.compile(r"ERROR: (\S+?): (?:not found|failed to resolve source metadata)")
_WARNING = re.compile(r"^WARNING: (\S+)(?: - \S+)?\n(.*)\n\S+?:(\d+)(?:-\d+)?$", re.M)
_DIRECTIVE = re.compile(rb"^#\s*([a-zA-Z][a-zA-Z0-9]*)\s*=")
_TRANSIENT = re.compile(r"context deadline exceeded|connection refused|code = Unavailable|error reading from server")


def familiar(ref: str) -> str:
    """An image name as BuildKit keys named contexts: no docker.io/library/ prefix, no :latest."""
    for prefix in ("docker.io/library/", "docker.io/"):
        if ref.startswith(prefix):
            ref = ref[len(prefix):]
            break
    return ref.removesuffix(":latest")


def has_syntax(data: bytes) -> bool:
    for line in data.splitlines():
        m = _DIRECTIVE.match(line.lstrip())
        if not m or m.group(1).lower() not in (b"syntax", b"escape", b"check"):
            return False
        if m.group(1).lower() == b"syntax":
            return True
    return False


def _ask(workdir: str, method: str, syntax: bool, contexts: list[str], base: str) -> subprocess.CompletedProcess[str]:
    empty = os.path.join(workdir, "ctx")
    os.makedirs(empty, exist_ok=True)
    if syntax:
        cmd = ["buildctl", "build", "--progress=plain", "--frontend", "dockerfile.v0", "--opt", "cmdline=",
               "--local", f"context={empty}", "--local", f"dockerfile={workdir}",
               "--opt", "requestid=frontend." + ("lint" if method == "check" else method)]
        cmd += [a for k in contexts for a in ("--opt", f"context:{k}={base}")]
    else:
        call = "check,format=json" if method == "check" else method
        cmd = ["docker-buildx", "build", "--progress=plain", f"--call={call}", "-f", f"{workdir}/Dockerfile", empty]
        cmd += [a for k in contexts for a in ("--build-context", f"{k}={base}")]
    for _ in range(10):  # a daemon restarted under us answers "deadline exceeded" / "unavailable" for a moment
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=300, check=False)
        if not _TRANSIENT.search(p.stderr):
            break
        time.sleep(2)
    return p


CRASH = ("not asked: a `# check=` comment above an instruction makes BuildKit v0.32.2's targets request "
         "dereference a nil linter and crash buildkitd")


def _check_comment(data: bytes) -> bool:
    """A ``# check=`` comment after the parser directives (ListTargets panics on it in v0.32.2)."""
    lines = data.splitlines()
    i = 0
    while i < len(lines) and _DIRECTIVE.match(lines[i].lstrip()):
        i += 1
    return any(re.match(rb"^\s*#\s*check\s*=", line, re.I) for line in lines[i:])


def _error_line(stderr: str) -> str | None:
    lines = [ln for ln in stderr.splitlines() if ln.startswith(("ERROR: ", "error: "))]
    if not lines:
        return None
    return re.sub(r"^(?:ERROR|error): (?:failed to build: )?(?:failed to solve: )?", "", lines[-1])


def record_one(data: bytes, base: str) -> dict[str, Any]:
    syntax = has_syntax(data)
    with tempfile.TemporaryDirectory() as workdir:
        with open(os.path.join(workdir, "Dockerfile"), "wb") as f:
            f.write(data)
        contexts: list[str] = []
        for _ in range(16):
            p = _ask(workdir, "check", syntax, contexts, base)
            m = _NOT_FOUND.search(p.stderr)
            if not m or familiar(m.group(1)) in contexts:
                break
            contexts.append(familiar(m.group(1)))
        if _check_comment(data):
            return {"syntax_directive": syntax, "targets": {"exit": None, "text": None, "error": None, "skipped": CRASH},
                    "check": _check_answer(p, syntax)}
        t = _ask(workdir, "targets", syntax, [], base)
    targets = {"exit": t.returncode, "text": t.stdout if t.returncode == 0 else None,
               "error": _error_line(t.stderr) if t.returncode else None}
    return {"syntax_directive": syntax, "targets": targets, "check": _check_answer(p, syntax)}


def _check_answer(p: subprocess.CompletedProcess[str], syntax: bool) -> dict[str, Any]:
    if syntax:  # buildctl: the text form, warnings only
        warnings = [{"rule": m.group(1), "line": int(m.group(3)), "detail": m.group(2)} for m in _WARNING.finditer(p.stdout)]
        error: dict[str, Any] | None = {"message": _error_line(p.stderr), "line": None} if p.returncode else None
        return {"exit": 1 if warnings or error else 0, "warnings": warnings, "error": error, "via": "buildctl-text"}
    if not p.stdout.strip().startswith("{"):
        return {"exit": p.returncode, "warnings": [], "error": {"message": _error_line(p.stderr), "line": None},
                "via": "buildx-json"}
    doc = json.loads(p.stdout)
    warnings = [{"rule": w["ruleName"], "line": _line(w), "detail": w["detail"]} for w in doc.get("warnings") or []]
    err = doc.get("buildError")
    error = {"message": err["message"], "line": _line(err)} if err else None
    return {"exit": p.returncode, "warnings": warnings, "error": error, "via": "buildx-json"}


def _line(item: dict[str, Any]) -> int | None:
    ranges = (item.get("location") or {}).get("ranges") or []
    return int(ranges[0]["start"].get("line", 0)) if ranges else None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--manifest", required=True)
    ap.add_argument("--files", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--base", default="docker-image://127.0.0.1:5000/library/busybox:latest")
    args = ap.parse_args()
    with open(args.manifest, encoding="utf-8") as f:
        manifest = json.load(f)

    def one(entry: dict[str, Any]) -> dict[str, Any]:
        with open(os.path.join(args.files, entry["id"]), "rb") as f:
            return {**entry, **record_one(f.read(), args.base)}

    with ThreadPoolExecutor(8) as pool:
        entries = list(pool.map(one, manifest))
    out = {"reference": "buildx v0.36.1 + BuildKit v0.32.2 (Dockerfile frontend 1.26.0), linux/amd64",
           "base_images": "every base image: a linux/amd64 image whose config Env is only PATH",
           "files": entries}
    with open(args.out, "w", encoding="utf-8") as f:
        json.dump(out, f, indent=1, sort_keys=False)
        f.write("\n")
    print(f"recorded {len(entries)} files into {args.out}")


if __name__ == "__main__":
    main()
