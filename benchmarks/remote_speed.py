"""The same small project built on the embedded worker and on a BuildKit builder (remote driver),
cold (empty caches: a fresh bake root; a new cache-busting value for BuildKit) and warm (again,
nothing changed). Prints seconds and the remote/embedded ratio.

The project: two targets sharing a base stage on busybox, a RUN in each, a local context with a
.dockerignore, each exported with type=local (``--output oci``: as OCI image tarballs, which on
BuildKit go through its image exporter with bake's image config).

Run: BAKE_TEST_BUILDKIT_HOST=unix:///work/ref/buildkitd.sock .venv/bin/python benchmarks/remote_speed.py [--runs N]
(BAKE_TEST_BUILDKIT_BASE names the base image both can pull; default 127.0.0.1:5000/library/busybox:latest)
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from two_targets import timed, write_project  # the same project, timed the same way


def project(d: Path, base: str, endpoint: str, salt: str, output: str = "local") -> dict[str, str]:
    inst = d / "docker" / "buildx" / "instances"
    inst.mkdir(parents=True, exist_ok=True)
    (inst / "bench").write_text(json.dumps({"Name": "bench", "Driver": "remote", "Nodes": [
        {"Name": "bench0", "Endpoint": endpoint}], "Dynamic": False}))
    write_project(d, base, salt, "type=local,dest=out/NAME" if output == "local" else "type=oci,dest=out/NAME.tar")
    return {**os.environ, "DOCKER_CONFIG": str(d / "docker"), "BAKE_ROOT": str(d / "root")}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--output", choices=("local", "oci"), default="local")
    a = ap.parse_args()
    endpoint = os.environ.get("BAKE_TEST_BUILDKIT_HOST")
    if not endpoint:
        sys.exit("set BAKE_TEST_BUILDKIT_HOST=unix:///…/buildkitd.sock")
    base = os.environ.get("BAKE_TEST_BUILDKIT_BASE", "127.0.0.1:5000/library/busybox:latest")
    rows: dict[tuple[str, str], list[float]] = {}
    for _ in range(a.runs):
        for builder in ("embedded", "bench"):
            with tempfile.TemporaryDirectory(prefix="bake-remote-bench-") as tmp:
                d = Path(tmp)
                env = project(d, base, endpoint, uuid.uuid4().hex, a.output)  # a new salt: BuildKit's cache misses too
                rows.setdefault((builder, "cold"), []).append(timed(d, env, builder))
                rows.setdefault((builder, "warm"), []).append(timed(d, env, builder))
    print(f"{'builder':10s} {'cold s':>8s} {'warm s':>8s}   (median of {a.runs}, output {a.output})")
    med = {k: statistics.median(v) for k, v in rows.items()}
    for builder in ("embedded", "bench"):
        print(f"{'remote' if builder == 'bench' else builder:10s} {med[(builder, 'cold')]:8.2f} {med[(builder, 'warm')]:8.2f}")
    for phase in ("cold", "warm"):
        print(f"ratio remote/embedded, {phase}: {med[('bench', phase)] / med[('embedded', phase)]:.2f}")


if __name__ == "__main__":
    main()
