"""The same small project built on the embedded worker and on dockerd's BuildKit (the docker
driver), cold (a fresh bake root; a new cache-busting value so the engine's cache misses too) and
warm (again, nothing changed), once exporting type=local and once loading the image into the
engine (--load). Prints seconds and the docker/embedded ratio of each, measured in the same run.

The project: two targets sharing a base stage on busybox, a RUN in each, a local context of 50
files with a .dockerignore (for --load: the first target only, with its tags).

Run: BAKE_TEST_DOCKER_HOST=unix:///…/docker.sock .venv/bin/python benchmarks/docker_driver.py [--runs N]
(start one with scripts/dockerd.sh start /tmp/bake-dockerd; BAKE_TEST_DOCKER_BASE names the base image
both can pull, default 127.0.0.1:5000/library/busybox:latest)
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from two_targets import timed, write_project  # the same project, timed the same way


def project(d: Path, base: str, host: str, salt: str) -> dict[str, str]:
    write_project(d, base, salt, "type=local,dest=out/NAME", tags=f'"bake-bench/a:{salt[:8]}"')
    return {**os.environ, "DOCKER_HOST": host, "DOCKER_CONFIG": str(d / "docker"), "BAKE_ROOT": str(d / "root")}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3)
    a = ap.parse_args()
    host = os.environ.get("BAKE_TEST_DOCKER_HOST")
    if not host:
        sys.exit("set BAKE_TEST_DOCKER_HOST=unix:///…/docker.sock (scripts/dockerd.sh start DIR starts one)")
    base = os.environ.get("BAKE_TEST_DOCKER_BASE", "127.0.0.1:5000/library/busybox:latest")
    rows: dict[tuple[str, bool, str], list[float]] = {}
    for _ in range(a.runs):
        for load in (False, True):
            for builder in ("embedded", "default"):
                with tempfile.TemporaryDirectory(prefix="bake-docker-bench-") as tmp:
                    d = Path(tmp)
                    env = project(d, base, host, uuid.uuid4().hex)
                    args = ["--load", "a"] if load else []
                    rows.setdefault((builder, load, "cold"), []).append(timed(d, env, builder, *args))
                    rows.setdefault((builder, load, "warm"), []).append(timed(d, env, builder, *args))
    med = {k: statistics.median(v) for k, v in rows.items()}
    print(f"{'builder':10s} {'output':8s} {'cold s':>8s} {'warm s':>8s}   (median of {a.runs})")
    for load in (False, True):
        for builder in ("embedded", "default"):
            name = "docker" if builder == "default" else builder
            print(f"{name:10s} {'--load' if load else 'local':8s} {med[(builder, load, 'cold')]:8.2f} "
                  f"{med[(builder, load, 'warm')]:8.2f}")
    for load in (False, True):
        for phase in ("cold", "warm"):
            ratio = med[("default", load, phase)] / med[("embedded", load, phase)]
            print(f"ratio docker/embedded, {'--load' if load else 'local'}, {phase}: {ratio:.2f}")


if __name__ == "__main__":
    main()
