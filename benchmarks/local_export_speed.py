"""type=local outputs (issue 14): a 128 MB tree of 2,048 files exported cold, then again unchanged
(a warm rebuild) and after one file changed, against ``cp -a`` of the whole tree (what the exporter
did before it synced incrementally) measured in the same run.

Run: .venv/bin/python benchmarks/local_export_speed.py
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time

from bake.exporter.local import export_local


def timed(fn: object) -> float:
    t0 = time.perf_counter()
    fn()  # type: ignore[operator]
    return time.perf_counter() - t0


def main() -> int:
    d = tempfile.mkdtemp(prefix="bake-export-bench-")
    try:
        tree = os.path.join(d, "tree")
        for i in range(64):
            os.makedirs(f"{tree}/d{i}")
            for j in range(32):
                with open(f"{tree}/d{i}/f{j}", "wb") as f:
                    f.write(os.urandom(64 << 10))
        dest = os.path.join(d, "out")
        cold = timed(lambda: export_local([("", tree)], dest))
        warm = timed(lambda: export_local([("", tree)], dest))
        with open(f"{tree}/d3/f7", "wb") as f:
            f.write(os.urandom(64 << 10))
        one = timed(lambda: export_local([("", tree)], dest))
        base = timed(lambda: subprocess.run(["cp", "-a", "--", tree + "/.", os.path.join(d, "cp")], check=True))
        print(f"local export, 128 MB / 2048 files: cold {cold:.2f} s, unchanged {warm:.3f} s, one file changed "
              f"{one:.3f} s; cp -a of the tree {base:.2f} s (unchanged rebuild: {base / warm:.0f}x faster than a full copy)")
    finally:
        shutil.rmtree(d)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
