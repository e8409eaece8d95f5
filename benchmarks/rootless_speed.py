"""Rootless vs root (issue 13): the same small project built cold and warm, as root and as an
ordinary user (whose build runs in a user-namespace child), in one run.

The project: a busybox base from a local registry, a COPY of a 2 MB context, three RUN steps (one
with the default network: the build's slirp4netns namespace), exported as a local directory. Each
figure is the median of ``--runs`` builds on a fresh state root (cold) and of rebuilds with every
step cached (warm). Needs root (it runs the user's builds with ``su``), an ordinary user with a
subordinate id range (``--user``, default bake-ci: scripts/test-rootless.sh creates it) and what
scripts/setup.sh installs.

Run: sudo .venv/bin/python benchmarks/rootless_speed.py [--runs N] [--user NAME]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from build_speed import registry  # the same loopback registry, seeded with busybox

DOCKERFILE = """
FROM {base}
COPY data /data
RUN sha256sum /data/blob > /sum
RUN --network=none ls /sys/class/net > /nets
RUN ls /sys/class/net > /nets2
"""


def project(d: Path, base: str) -> None:
    (d / "data").mkdir(parents=True)
    (d / "data" / "blob").write_bytes(os.urandom(2 << 20))
    (d / "Dockerfile").write_text(DOCKERFILE.format(base=base))
    (d / "docker-bake.hcl").write_text('target "default" {\n  output = ["type=local,dest=out"]\n}\n')


def timed(d: Path, root: Path, user: str | None) -> float:
    cmd = [sys.executable, "-m", "bake", "--progress=quiet", "--root", str(root)]
    if user is not None:
        cmd = ["su", user, "-s", "/bin/sh", "-c", " ".join(cmd)]
    t0 = time.perf_counter()
    subprocess.run(cmd, cwd=d, check=True, env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])})
    return time.perf_counter() - t0


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--user", default="bake-ci")
    args = ap.parse_args()
    if os.geteuid() != 0:
        print("run as root: it compares root's builds with an ordinary user's")
        return 1
    work = Path(tempfile.mkdtemp(prefix="bake-rootless-bench-"))
    os.chmod(work, 0o755)
    try:
        with registry(work) as reg:
            figures: dict[str, list[float]] = {}
            for who in ("root", args.user):
                user = None if who == "root" else args.user
                d = work / who
                project(d, f"{reg}/library/busybox")
                shutil.chown(d, user or "root")
                for p in d.rglob("*"):
                    shutil.chown(p, user or "root")
                cold, warm = [], []
                for i in range(args.runs):
                    root = d.parent / f"{who}-root-{i}"
                    root.mkdir()
                    shutil.chown(root, user or "root")
                    cold.append(timed(d, root, user))
                    warm.append(timed(d, root, user))
                figures[who] = [statistics.median(cold), statistics.median(warm)]
            (rc, rw), (uc, uw) = figures["root"], figures[args.user]
            print(f"cold build: root {rc:.2f} s, rootless {uc:.2f} s (ratio {uc / rc:.2f})")
            print(f"warm build: root {rw:.2f} s, rootless {uw:.2f} s (ratio {uw / rw:.2f})")
    finally:
        subprocess.run(["rm", "-rf", str(work)], check=False)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
