"""Differential test of the images bake builds: image config bytes and layer diff ids against a
reference BuildKit's, on hand-written scenarios and on public Dockerfiles made to build offline.

Each case is built twice from the same project — a ``docker-bake.hcl`` with one target (named
contexts, build args, target stage) whose output is ``type=oci,tar=false,rewrite-timestamp=true``
with ``SOURCE_DATE_EPOCH=0`` — once by ``docker-buildx bake`` (``record``; needs the reference:
``source /work/ref/env.sh``) and once by bake (``compare``). With the epoch fixed and file times
clamped to it, both sides are deterministic, so equal inputs must give equal bytes.

Cases:
- ``tests/fixtures/buildkit/configs/scenarios.json``: scenarios written for this (ENV/ARG/LABEL/
  USER/WORKDIR/… interplay, multi-stage, named contexts); the recorded answer sits beside each.
- ``--corpus DIR`` (``/work/corpus``: public Dockerfiles, not in the repository): each file made to
  build offline on busybox (``offline()``: every image FROM/--from becomes busybox, RUN runs
  ``true`` with its cache/tmpfs mounts kept, ADD URLs become a local file, the context gets a file
  for every COPY/ADD source); answers in ``configs/corpus.json`` keyed by id with the sha256 of
  the rewritten text.

A case agrees when the config is byte-identical (which includes the diff ids); the report also
counts configs equal apart from ``rootfs`` (config fidelity separate from layer bytes).

Usage:
  scripts/differential_config.py record [--corpus /work/corpus] [--only NAME]   # writes the fixtures
  scripts/differential_config.py compare [--corpus /work/corpus] [--only NAME] [-v]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

FIXTURES = REPO / "tests/fixtures/buildkit/configs"
BAKE_CONFIG = '[registry."docker.io"]\nmirrors = ["127.0.0.1:5000"]\n'
OUTPUT = "type=oci,dest=out,tar=false,rewrite-timestamp=true"


def hcl(case: dict[str, Any]) -> str:
    """The one-target bake file both tools build."""
    lines = ['target "default" {', '  context = "ctx"', f'  output = ["{OUTPUT}"]']
    args = {"SOURCE_DATE_EPOCH": "0", **case.get("args", {})}
    lines.append("  args = {" + ", ".join(f"{k} = {json.dumps(v)}" for k, v in sorted(args.items())) + "}")
    if case.get("contexts"):
        lines.append("  contexts = {" + ", ".join(f"{k} = {json.dumps(v if isinstance(v, str) else './' + k)}"
                                                  for k, v in sorted(case["contexts"].items())) + "}")
    if case.get("target"):
        lines.append(f'  target = "{case["target"]}"')
    return "\n".join([*lines, "}", ""])


def lay_out(case: dict[str, Any], where: Path) -> Path:
    """The project directory of ``case`` under ``where``: ``docker-bake.hcl``, ``ctx/`` (the
    Dockerfile and files) and one directory per named context given as files."""
    proj = where / "proj"
    ctx = proj / "ctx"
    ctx.mkdir(parents=True)
    (proj / "docker-bake.hcl").write_text(hcl(case))
    (ctx / "Dockerfile").write_text(case["dockerfile"])
    for rel, text in case.get("files", {}).items():
        _write(ctx / rel, text)
    for name, spec in (case.get("contexts") or {}).items():
        if isinstance(spec, dict):
            (proj / name).mkdir()
            for rel, text in spec.items():
                _write(proj / name / rel, text)
    return proj


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if text.endswith("/"):  # "dir/": an empty directory
        path.mkdir(exist_ok=True)
    else:
        path.write_text(text)


def answer(out: Path) -> dict[str, Any]:
    """What an OCI layout directory holds: the config's bytes and digest, the manifest, the index."""
    index = json.loads((out / "index.json").read_text())
    top = index["manifests"][0]["digest"]
    manifest_raw = (out / "blobs/sha256" / top[7:]).read_text()
    manifest = json.loads(manifest_raw)
    config_raw = (out / "blobs/sha256" / manifest["config"]["digest"][7:]).read_text()
    return {"config": config_raw, "config_digest": manifest["config"]["digest"],
            "manifest": manifest_raw, "manifest_digest": top,
            "diff_ids": json.loads(config_raw)["rootfs"]["diff_ids"]}


def build(case: dict[str, Any], tool: str, root: Path | None = None) -> dict[str, Any]:
    """Build ``case`` with ``tool`` ("reference" or "bake"); its answer, or ``{"error": …}``."""
    with tempfile.TemporaryDirectory(prefix="difcfg-") as tmp:
        proj = lay_out(case, Path(tmp))
        env = dict(os.environ)
        if tool == "reference":
            cmd = ["docker-buildx", "bake", "--progress=plain", "-f", "docker-bake.hcl"]
        else:
            (Path(tmp) / "bake.toml").write_text(BAKE_CONFIG)
            env["BAKE_CONFIG"] = str(Path(tmp) / "bake.toml")
            env["PYTHONPATH"] = str(REPO)  # this checkout's bake, whichever interpreter runs it
            env.pop("BUILDX_BUILDER", None)  # the embedded worker, not the reference as a builder
            cmd = [sys.executable, "-m", "bake", "--progress=plain", "-f", "docker-bake.hcl"]
            if root is not None:
                cmd += ["--root", str(root)]
        p = subprocess.run(cmd, cwd=proj, env=env, capture_output=True, text=True, timeout=600, check=False)
        if p.returncode != 0:
            return {"error": p.stderr.strip().splitlines()[-1] if p.stderr.strip() else f"rc {p.returncode}"}
        return answer(proj / "out")


# --- public Dockerfiles made to build offline ----------------------------------------------------

_SKIP_DIRECTIVE = re.compile(r"^#\s*syntax\s*=", re.I)


def offline(text: str) -> tuple[str, dict[str, str]] | None:
    """``text`` rewritten to build on busybox without a network, and the context files it copies;
    None when it cannot be parsed."""
    from bake.dockerfile.parser import parse
    from bake.errors import BakeError

    try:
        doc = parse(text)
    except BakeError:
        return None
    lines = text.splitlines()
    out: list[str] = []
    files: dict[str, str] = {}
    stages: set[str] = set()
    at = 0
    for node in doc.nodes:
        out += [ln for ln in lines[at:node.start_line - 1] if not _SKIP_DIRECTIVE.match(ln)]
        at = node.end_line
        original = lines[node.start_line - 1:node.end_line]
        kw = node.keyword.lower()
        words = list(node.args) if node.json else " ".join(node.args).split()
        if kw == "from" and words:
            name = words[2] if len(words) == 3 and words[1].lower() == "as" else None
            base = words[0] if words[0].lower() in stages or words[0] == "scratch" else "busybox"
            flags = [f for f in node.flags if f.startswith("--platform")]
            out.append(" ".join(["FROM", *flags, base, *(["AS", name] if name else [])]))
            if name:
                stages.add(name.lower())
        elif kw == "run":
            keep = [f for f in node.flags if f.startswith("--mount") and re.search(r"type=(cache|tmpfs)", f)
                    and "from=" not in f]
            out.append(" ".join(["RUN", *keep, "true"]))
        elif kw in ("copy", "add") and not node.heredocs and len(words) >= 2:
            frm = next((f.split("=", 1)[1] for f in node.flags if f.startswith("--from=")), None)
            flags = [f for f in node.flags if not f.startswith(("--from=", "--checksum", "--keep-git-dir"))]
            *sources, dest = words
            if frm is not None:
                frm = frm if frm.lower() in stages or frm.isdigit() else "busybox"
                sources = ["/etc/passwd"]
                flags.insert(0, f"--from={frm}")
            else:
                sources = [_context_file(s, files) for s in sources]
            out.append(" ".join([kw.upper(), *flags, *sources, dest]))
        else:
            out += original
    out += lines[at:]
    return "\n".join(out) + "\n", _settle(files)


def _context_file(source: str, files: dict[str, str]) -> str:
    """A context path standing for ``source`` (made to exist), in place of URLs and wildcards."""
    if "://" in source or source.startswith("git@") or "$" in source:
        files["remote-file"] = "remote\n"
        return "remote-file"
    rel = re.sub(r"\[[^]]*\]", "x", source).replace("*", "x").replace("?", "x").lstrip("/")
    rel = os.path.normpath(rel) if rel not in ("", ".", "./") else "."
    if rel == ".":
        files.setdefault("file", "file\n")
        return source
    files[rel + ("/f" if source.endswith("/") else "")] = rel + "\n"
    return source


def _settle(files: dict[str, str]) -> dict[str, str]:
    """A path that another lies below is a directory: its own text moves to ``<path>/f``."""
    out = dict(files)
    for path in list(out):
        if any(other.startswith(path + "/") for other in out if other != path):
            out[path + "/f"] = out.pop(path)
    return out


def corpus_cases(corpus: Path) -> list[dict[str, Any]]:
    cases = []
    for m in json.loads((corpus / "manifest.json").read_text()):
        text = (corpus / "files" / m["id"]).read_text(encoding="utf-8", errors="replace")
        made = offline(text)
        if made is None:
            continue
        dockerfile, files = made
        cases.append({"name": m["id"], "dockerfile": dockerfile, "files": files,
                      "sha256": hashlib.sha256(dockerfile.encode()).hexdigest()})
    return cases


# --- record and compare -------------------------------------------------------------------------

def _load(name: str) -> Any:
    path = FIXTURES / name
    return json.loads(path.read_text()) if path.exists() else None


def record(args: argparse.Namespace) -> None:
    """Record the reference's answers: the scenarios', or with ``--corpus`` the corpus's."""
    if not args.corpus:
        scenarios = _load("scenarios.json")
        for case in scenarios:
            if args.only and case["name"] not in args.only:
                continue
            case["recorded"] = build(case, "reference")
            print(case["name"], "error" if "error" in case["recorded"] else case["recorded"]["config_digest"])
        (FIXTURES / "scenarios.json").write_text(json.dumps(scenarios, indent=1) + "\n")
    else:
        from concurrent.futures import ThreadPoolExecutor

        answers = _load("corpus.json") or {}
        cases = [c for c in _chosen(corpus_cases(Path(args.corpus)), args) if c["name"] not in answers]

        lock = threading.Lock()

        def one(case: dict[str, Any]) -> None:
            got = build(case, "reference")
            with lock:  # saved after each answer: a long run stopped halfway keeps what it has
                answers[case["name"]] = {"sha256": case["sha256"], **{k: v for k, v in got.items() if k != "manifest"}}
                print(case["name"], "error" if "error" in got else got["config_digest"], flush=True)
                (FIXTURES / "corpus.json").write_text(json.dumps(answers, indent=1, sort_keys=True) + "\n")

        with ThreadPoolExecutor(4) as pool:  # the daemon works on several builds at once
            list(pool.map(one, cases))


def _chosen(cases: list[dict[str, Any]], args: argparse.Namespace) -> list[dict[str, Any]]:
    """``--only`` names, else the first ``--limit`` cases."""
    if args.only:
        return [c for c in cases if c["name"] in args.only]
    return cases[:args.limit] if args.limit else cases


def differences(mine: dict[str, Any], theirs: dict[str, Any]) -> list[str]:
    """Why two answers differ, field by field ([] when the configs are the same bytes)."""
    if "error" in theirs or "error" in mine:
        return [] if ("error" in theirs) == ("error" in mine) else [f"error: reference {theirs.get('error')!r}, "
                                                                      f"bake {mine.get('error')!r}"]
    if mine["config"] == theirs["config"]:
        return []
    a, b = json.loads(mine["config"]), json.loads(theirs["config"])
    out = []
    for k in sorted(set(a) | set(b)):
        if a.get(k) == b.get(k):
            continue
        if k == "history" and isinstance(a.get(k), list) and isinstance(b.get(k), list):
            n = max(len(a[k]), len(b[k]))
            out += [f"history[{i}]: reference {json.dumps(x)}, bake {json.dumps(y)}"
                    for i in range(n) if (x := (b[k][i:i + 1] or [None])[0]) != (y := (a[k][i:i + 1] or [None])[0])]
        else:
            out.append(f"{k}: reference {json.dumps(b.get(k))}, bake {json.dumps(a.get(k))}")
    return out or ["same JSON, different bytes"]


def compare(args: argparse.Namespace) -> int:
    cases = [(c, c["recorded"]) for c in _load("scenarios.json")]
    if args.corpus:
        answers = _load("corpus.json") or {}
        for case in corpus_cases(Path(args.corpus)):
            ref = answers.get(case["name"])
            if ref is not None and ref["sha256"] == case["sha256"]:
                cases.append((case, ref))
    root = Path(tempfile.mkdtemp(prefix="difcfg-root-"))
    agree = config_only = built = 0
    try:
        for case, ref in cases:
            if args.only and case["name"] not in args.only:
                continue
            if "error" in ref:
                continue  # the reference could not build it offline: nothing to compare
            built += 1
            mine = build(case, "bake", root)
            why = differences(mine, ref)
            agree += not why
            if not why or (why and all(w.startswith("rootfs:") for w in why)):
                config_only += 1
            if why and args.verbose:
                print(f"--- {case['name']}")
                for w in why:
                    print("   ", w[:600])
    finally:
        shutil.rmtree(root, ignore_errors=True)
    print(f"configs byte-identical: {agree}/{built}; equal apart from rootfs (layers): {config_only}/{built}")
    return 0 if agree == built else 1


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("mode", choices=("record", "compare"))
    p.add_argument("--corpus", help="directory of public Dockerfiles (manifest.json, files/)")
    p.add_argument("--only", nargs="*", help="case names")
    p.add_argument("--limit", type=int, help="only the first N corpus files")
    p.add_argument("-v", "--verbose", action="store_true")
    args = p.parse_args()
    if args.mode == "record":
        record(args)
        return 0
    return compare(args)


if __name__ == "__main__":
    sys.exit(main())
