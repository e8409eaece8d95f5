"""Rootless vs root (issue 13): the same small project built cold and warm, as root and as an
ordinary user (whose build runs in a user-namespace child), in one run.

The project: a busybox base from a local registry, a COPY of a 2 MB context, three RUN steps (one
with the default network: the build's slirp4netns namespace), exported as a local directory. Each
figure is the median of ``--runs`` builds on a fresh state root (cold), of rebuilds with every
step cached and the output in place (warm: an ordinary user's is answered without the namespace,
app/outside.py) and of rebuilds after a context file changed (edited: COPY and the RUNs again).
Root's and the user's builds alternate, so load on the machine hits both alike. Needs root (it runs the user's builds with ``su``), an ordinary user with a
subordinate id range (``--user``, default bake-ci: scripts/test-rootless.sh creates it) and what
scripts/setup.sh installs.

Measured on a loaded 2-core machine (load average 8–15; medians of 4–5, two runs each):
  before (2818125): warm ratio 1.28 / 1.46, edited 1.25 / 1.43
  after (f340d37, the parent answers fully cached builds): warm 1.14 / 1.05, edited 1.13 / 1.06
A rotation of one ordinary user's builds, 12 warm and 6 edited each: warm 0.758 → 0.383 s,
edited 1.329 → 1.212 s (the child, started at once, sets up while the parent looks).

Session 5 (load 1-2, medians of 3): with the build server the root builds got faster (cold 0.76 →
0.43 s) and the ratio worse (cold 1.22, edited 1.53) while the child was a new interpreter; the child
forked instead (88e2eb4): cold root 0.43 / rootless 0.35 s (0.81), warm 0.05 / 0.05 s (0.98),
edited 0.29 / 0.31 s (1.07).

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


def own(d: Path, user: str | None) -> None:
    shutil.chown(d, user or "root")
    for p in d.rglob("*"):
        shutil.chown(p, user or "root")


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
    # byte-compiled as an installed package is: the user cannot write __pycache__ here, and modules
    # only its builds import would otherwise be compiled on every run
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(Path(__file__).resolve().parents[1] / "bake")],
                   check=True, stdout=subprocess.DEVNULL)
    work = Path(tempfile.mkdtemp(prefix="bake-rootless-bench-"))
    os.chmod(work, 0o755)
    try:
        with registry(work) as reg:
            figures: dict[str, dict[str, list[float]]] = {}
            dirs: dict[str, Path] = {}
            for who in ("root", args.user):
                user = None if who == "root" else args.user
                d = dirs[who] = work / who
                project(d, f"{reg}/library/busybox")
                own(d, user)
                figures[who] = {"cold": [], "warm": [], "edited": []}
            for i in range(args.runs):
                for who in ("root", args.user):
                    user = None if who == "root" else args.user
                    d, root = dirs[who], work / f"{who}-root-{i}"
                    root.mkdir()
                    shutil.chown(root, user or "root")
                    figures[who]["cold"].append(timed(d, root, user))
                    figures[who]["warm"].append(timed(d, root, user))
                    (d / "data" / "note").write_text(f"edit {i}\n")
                    own(d, user)
                    figures[who]["edited"].append(timed(d, root, user))
            for kind in ("cold", "warm", "edited"):
                r, u = (statistics.median(figures[w][kind]) for w in ("root", args.user))
                print(f"{kind + ' build:':14} root {r:.2f} s, rootless {u:.2f} s (ratio {u / r:.2f})")
    finally:
        subprocess.run(["rm", "-rf", str(work)], check=False)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
