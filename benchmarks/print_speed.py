"""`bake --print` wall time on a 1,000-target matrix file and on a 5-target file.

Goal (issue 2): at most half of buildx v0.36's time on the same file, i.e. ≤ 0.32 s for 1,000
targets (buildx measured ≈ 0.64 s on this machine class) and ≤ 0.15 s for 5 targets. buildx is
timed too when `docker buildx` is installed; otherwise the reference figure is used for the ratio.

Run: .venv/bin/python benchmarks/print_speed.py [--runs N]
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

BUILDX_REFERENCE_1000 = 0.64

MATRIX_FILE = """
variable "REGISTRY" { default = "registry.example.com" }
variable "VERSION" { default = "1.2.3" }
variable "PLATFORMS" {
  type    = list(string)
  default = ["linux/amd64", "linux/arm64"]
}
function "tag" {
  params = [svc, v, d]
  result = ["${REGISTRY}/${svc}:${v}-${d}", "${REGISTRY}/${svc}:${VERSION}-${v}-${d}"]
}
target "_common" {
  platforms = PLATFORMS
  labels    = { "org.opencontainers.image.version" = VERSION }
  args      = { BASE = "debian" }
}
target "svc" {
  inherits = ["_common"]
  name     = "${s}-${v}-${d}"
  matrix = {
    s = [for i in range(10) : "svc${i}"]
    v = [for i in range(10) : "v${i}"]
    d = ["alpine", "debian", "ubuntu", "fedora", "arch", "suse", "rocky", "alma", "void", "gentoo"]
  }
  context = "./${s}"
  args    = { VARIANT = v, DISTRO = d }
  tags    = tag(s, v, d)
}
group "default" { targets = ["svc"] }
"""

SMALL_FILE = """
variable "TAG" { default = "dev" }
group "default" { targets = ["a", "b", "c", "d", "e"] }
target "_base" { args = { X = "1" } }
target "a" {
  inherits = ["_base"]
  tags = ["a:${TAG}"]
}
target "b" {
  inherits = ["_base"]
  tags = ["b:${TAG}"]
}
target "c" { tags = ["c:${TAG}"] }
target "d" { tags = ["d:${TAG}"] }
target "e" { tags = ["e:${TAG}"] }
"""


def time_command(cmd: list[str], cwd: Path, runs: int, env: dict[str, str]) -> tuple[float, int]:
    subprocess.run(cmd, cwd=cwd, env=env, check=True, stdout=subprocess.DEVNULL)  # warm caches
    times = []
    size = 0
    for _ in range(runs):
        t0 = time.perf_counter()
        out = subprocess.run(cmd, cwd=cwd, env=env, check=True, stdout=subprocess.PIPE).stdout
        times.append(time.perf_counter() - t0)
        size = len(out)
    return statistics.median(times), size


def buildx_available() -> bool:
    if shutil.which("docker") is None:
        return False
    return subprocess.run(["docker", "buildx", "version"], capture_output=True).returncode == 0


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=7)
    args = ap.parse_args()
    bake = [sys.executable, "-m", "bake", "--print"]
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # measure as users run it, with .pyc files
    has_buildx = buildx_available()
    print(f"{'file':<22} {'bake s':>8} {'buildx s':>9} {'ratio':>7} {'goal s':>7}  targets")
    for label, text, goal in (("1000-target matrix", MATRIX_FILE, 0.32), ("5 targets", SMALL_FILE, 0.15)):
        with tempfile.TemporaryDirectory() as d:
            cwd = Path(d)
            (cwd / "docker-bake.hcl").write_text(text)
            t_bake, size = time_command(bake, cwd, args.runs, env)
            if has_buildx:
                t_ref, _ = time_command(["docker", "buildx", "bake", "--print"], cwd, args.runs, env)
                ref = f"{t_ref:9.3f}"
            else:
                t_ref = BUILDX_REFERENCE_1000 if goal == 0.32 else 2 * goal
                ref = f"{t_ref:8.2f}*"
            count = subprocess.run(bake, cwd=cwd, env=env, capture_output=True, text=True).stdout.count('"context"')
            verdict = "ok" if t_bake <= goal else "SLOW"
            print(f"{label:<22} {t_bake:8.3f} {ref} {t_ref / t_bake:6.2f}x {goal:7.2f}  {count} ({size} bytes) {verdict}")
    if not has_buildx:
        print("* buildx is not installed here: reference figures (issue 2: buildx ≈ 0.64 s on the 1,000-target file)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
