"""Differential test of ``bake --print`` against recorded ``docker buildx bake --print`` answers.

The corpus (public bake files, each with the sibling files of its directory) lives outside the
repository: ``--cases DIR`` holds one directory per manifest ``id``. The reference's answers are in
``tests/fixtures/buildkit/bake/corpus.json.gz`` (repo, path, commit and sha256 of every file, and for
each invocation its arguments, environment, exit status, stdout and first error line).

``record`` runs the reference (``source /work/ref/env.sh`` first: ``docker-buildx`` on PATH) on each
file: ``--print`` of the default group, of a few groups and targets from ``--list=type=targets``,
with the first variable overridden from the environment, and with ``--set`` overrides.
``compare`` runs bake (in-process, or the CLI with ``--cli``) on the same invocations.

An invocation agrees when both succeed with byte-identical stdout, or both fail. Where both fail, the
messages are shown with ``-v`` (their wording is not compared: buildx's carry Go error chains).

Usage: scripts/differential_bake.py record --manifest M --cases DIR [--out F]
       scripts/differential_bake.py compare [--cases DIR] [--fixture F] [-v] [--cli]
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import io
import json
import os
import re
import subprocess
import sys
from collections import Counter
from contextlib import redirect_stdout
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

FIXTURE = Path(__file__).resolve().parents[1] / "tests/fixtures/buildkit/bake/corpus.json.gz"
# Both tools see exactly this environment (plus an invocation's own variables): a bake file's
# variables read the environment, so anything else would leak the recording machine into answers.
BASE_ENV = {"PATH": "/work/ref/bin:/usr/local/bin:/usr/bin:/bin", "HOME": "/nonexistent",
            "DOCKER_CONFIG": "/work/ref/docker-config", "BUILDX_BUILDER": "ref"}
OVERRIDE_VALUE = "9.9.9"
TYPED_VALUES = {"bool": "true", "number": "42", "string": "typed", "list(string)": '["a","b"]',
                "set(string)": '["b","a","b"]', "map(string)": '{"k":"v"}', "list(number)": "[2,1]",
                "tuple([string,number])": '["a",1]'}
SET_ALL = ["--set", "*.platform=linux/arm64,linux/amd64", "--set", "*.args.CORPUS_ARG=1"]
# typed attributes (outputs, caches, attestations, secrets…) as --set gives them, each as buildx prints it
SET_TYPED = [f"--set=*.{kv}" for kv in (
    "output=type=image,name=example.com/x,push=false", "cache-from=type=registry,ref=example.com/cache",
    "cache-to=type=inline", "attest=type=sbom", "secrets=id=tok,env=TOKEN", "labels.corpus=yes",
    "annotations=index:org.example=1", "contexts.extra=docker-image://busybox", "no-cache=true", "pull=false")]
LISTS = ["--list=type=targets,format=json", "--list=type=variables,format=json"]


def error_line(stderr: str) -> str | None:
    """The reference's error (buildx prints progress lines first, then ``ERROR: …``)."""
    for line in stderr.splitlines():
        if line.startswith(("ERROR: ", "error: ")):
            return line.split(": ", 1)[1]
    return stderr.strip().splitlines()[-1] if stderr.strip() else None


def _buildx(cwd: Path, file: str, args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["docker-buildx", "bake", "-f", file, *args], cwd=cwd, env={**BASE_ENV, **env},
                          capture_output=True, text=True, timeout=60)


def _listed(cwd: Path, file: str, kind: str) -> list[dict[str, Any]]:
    p = _buildx(cwd, file, [f"--list=type={kind},format=json"], {})
    try:
        return list(json.loads(p.stdout) or []) if p.returncode == 0 else []
    except ValueError:
        return []


def invocations(cwd: Path, file: str) -> list[tuple[list[str], dict[str, str]]]:
    """What to ask of one file: the default group, some groups and targets, an env override, ``--set``."""
    runs: list[tuple[list[str], dict[str, str]]] = [([], {})]
    listed = _listed(cwd, file, "targets")
    groups = [e["name"] for e in listed if e.get("group") and e["name"] != "default"]
    targets = [e["name"] for e in listed if not e.get("group")]
    picks = groups[:1] + [targets[i] for i in sorted({0, len(targets) // 2, len(targets) - 1}) if targets]
    runs += [(["--print", name], {}) for name in picks[:4]]
    listed_vars = _listed(cwd, file, "variables")
    variables = [e["name"] for e in listed_vars]
    if variables:
        runs.append(([], {variables[0]: OVERRIDE_VALUE}))
    typed = [e for e in listed_vars if e.get("type") in TYPED_VALUES]
    if typed:  # a value of the variable's own type, parsed from the environment
        runs.append(([], {typed[0]["name"]: TYPED_VALUES[typed[0]["type"]]}))
    extra = ["--set", f"{targets[0]}.tags=example.com/corpus:1"] if targets else []
    runs.append((SET_ALL + extra, {}))
    runs.append((SET_TYPED, {}))
    printed = [(args if args[:1] == ["--print"] else ["--print", *args], env) for args, env in runs]
    return printed + [([flag], {}) for flag in LISTS]


def record(manifest: list[dict[str, Any]], cases: Path) -> list[dict[str, Any]]:
    out = []
    for entry in manifest:
        cwd = cases / entry["id"]
        runs = []
        for args, env in invocations(cwd, entry["file"]):
            answers = [_answer(_buildx(cwd, entry["file"], args, env)) for _ in range(2)]
            if answers[0] != answers[1]:  # buildx walks Go maps (a matrix): take its most frequent answer
                answers += [_answer(_buildx(cwd, entry["file"], args, env)) for _ in range(9)]
            best, seen = Counter(answers).most_common(1)[0]
            rc, stdout, error = best
            run = {"args": args, "env": env, "exit": rc, "stdout": stdout, "error": error}
            if seen < len(answers):
                run["unstable"] = f"{seen} of {len(answers)} reference runs gave this answer"
            runs.append(run)
        text = (cwd / entry["file"]).read_text(errors="replace")
        out.append({**entry, "clock": "timestamp()" in text, "runs": runs})
        print(f"{entry['id']}: {len(runs)} runs", file=sys.stderr)
    return out


def _answer(p: subprocess.CompletedProcess[str]) -> tuple[int, str | None, str | None]:
    return p.returncode, p.stdout if p.returncode == 0 else None, error_line(p.stderr) if p.returncode else None


def bake_answer(cwd: Path, file: str, args: list[str], env: dict[str, str], cli: bool) -> tuple[int, str, str]:
    """Exit status, stdout and error text of ``bake -f file <args>`` (in-process unless ``cli``)."""
    if cli:
        exe = Path(sys.executable).parent / "bake"
        p = subprocess.run([str(exe), "-f", file, *args], cwd=cwd, env={**BASE_ENV, **env},
                           capture_output=True, text=True, timeout=60)
        return p.returncode, p.stdout, p.stderr.strip()
    from bake.app import Request, located_errors, open_project
    from bake.errors import BakeError
    from bake.hcl.bakefile.printer import list_targets, list_variables, render_plan

    overrides = tuple(args[i + 1] for i, a in enumerate(args) if a == "--set")
    overrides += tuple(a.removeprefix("--set=") for a in args if a.startswith("--set="))
    targets = tuple(a for i, a in enumerate(args) if not a.startswith("--") and args[i - 1] != "--set")
    listing = next((a.removeprefix("--list=") for a in args if a.startswith("--list=")), None)
    buf = io.StringIO()
    try:
        with redirect_stdout(buf):
            project = open_project(Request((file,), targets, overrides, None, str(cwd), {**BASE_ENV, **env}))
            with located_errors(project.files):
                if listing and "targets" in listing:
                    r = project.resolver
                    text = list_targets(r.blocks, r.groups, "json" in listing)
                elif listing:
                    text = list_variables(project.variables(), "json" in listing)
                else:
                    text = render_plan(project.plan(list(targets)))
    except BakeError as err:
        return 1, "", str(err).splitlines()[0] if str(err) else type(err).__name__
    return 0, text, ""


_CLOCK = re.compile(r"\d{4}-?\d\d-?\d\d(?:T\d\d:\d\d:\d\dZ)?")


def compare_run(cwd: Path, file: str, run: dict[str, Any], cli: bool, clock: bool = False) -> str | None:
    """None when bake answers as the reference did, else a short reason. With ``clock`` (the file calls
    ``timestamp()``) dates and times are masked on both sides."""
    rc, out, err = bake_answer(cwd, file, run["args"], run["env"], cli)
    want = run["stdout"]
    if clock and want is not None:
        want, out = _CLOCK.sub("<date>", want), _CLOCK.sub("<date>", out)
    if run["exit"] != 0 or rc != 0:
        if run["exit"] != 0 and rc != 0:
            return None
        return f"exit: reference {run['exit']} ({run['error']!r}), bake {rc} ({err!r})"
    if out != want:
        return "stdout differs:\n" + _first_difference(want, out)
    return None


def _first_difference(want: str, got: str) -> str:
    a, b = want.splitlines(), got.splitlines()
    for i, (x, y) in enumerate(zip(a, b, strict=False)):
        if x != y:
            return f"    line {i + 1}: reference {x!r}\n    line {i + 1}: bake      {y!r}"
    return f"    reference {len(a)} lines, bake {len(b)} lines"


def compare(fixture: list[dict[str, Any]], cases: Path, verbose: bool, cli: bool) -> tuple[int, int, int]:
    """(agreeing invocations, invocations, files with every invocation agreeing)."""
    agree = total = files_ok = 0
    for entry in fixture:
        cwd = cases / entry["id"]
        data = (cwd / entry["file"]).read_bytes()
        if hashlib.sha256(data).hexdigest() != entry["sha256"]:
            raise SystemExit(f"{entry['id']}: not the recorded file (sha256 differs)")
        bad = 0
        for run in entry["runs"]:
            total += 1
            reason = compare_run(cwd, entry["file"], run, cli, entry.get("clock", False))
            if reason is None:
                agree += 1
            else:
                bad += 1
                if verbose:
                    env = " ".join(f"{k}={v}" for k, v in run["env"].items())
                    print(f"DIFF {entry['id']} {env} {' '.join(run['args'])}: {reason}")
        files_ok += bad == 0
    return agree, total, files_ok


def load_fixture(path: Path) -> dict[str, Any]:
    data = path.read_bytes()
    return dict(json.loads(gzip.decompress(data) if path.suffix == ".gz" else data))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("mode", choices=["record", "compare"])
    ap.add_argument("--manifest", default="/work/bakecorpus/manifest.json")
    ap.add_argument("--cases", default=os.environ.get("BAKE_CORPUS", "/work/bakecorpus/cases"))
    ap.add_argument("--fixture", "--out", dest="fixture", default=str(FIXTURE))
    ap.add_argument("--only", help="regular expression: ids to run")
    ap.add_argument("--cli", action="store_true", help="run the bake CLI instead of the in-process API")
    ap.add_argument("-v", "--verbose", action="store_true")
    a = ap.parse_args()
    pick = re.compile(a.only) if a.only else None
    if a.mode == "record":
        manifest = [e for e in json.loads(Path(a.manifest).read_text()) if not pick or pick.search(e["id"])]
        doc = {"reference": "docker buildx v0.36.1", "env": BASE_ENV, "files": record(manifest, Path(a.cases))}
        Path(a.fixture).parent.mkdir(parents=True, exist_ok=True)
        data = (json.dumps(doc, indent=1, sort_keys=True) + "\n").encode()
        Path(a.fixture).write_bytes(gzip.compress(data, mtime=0) if a.fixture.endswith(".gz") else data)
        return
    files = [e for e in load_fixture(Path(a.fixture))["files"] if not pick or pick.search(e["id"])]
    agree, total, files_ok = compare(files, Path(a.cases), a.verbose, a.cli)
    print(f"agreement: {agree}/{total} invocations, {files_ok}/{len(files)} files entirely")
    sys.exit(0 if agree == total else 1)


if __name__ == "__main__":
    main()
