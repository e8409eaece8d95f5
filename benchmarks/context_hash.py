"""Hashing a local build context: cold (every file read) and warm (stat cache, nothing changed).

Goals (issue 4): a cold 10,000-file / 200 MB context at ≥ 150 MB/s; a warm one in ≤ 0.2 s.
The baseline printed alongside is ``sha256sum``-style raw hashing of the same bytes in one pass.

Run: .venv/bin/python benchmarks/context_hash.py [--files N] [--mb M]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import tempfile
import time

from bake.worker.context import StatCache, checksum


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--files", type=int, default=10_000)
    ap.add_argument("--mb", type=int, default=200)
    args = ap.parse_args()
    size = args.mb * 1024 * 1024 // args.files
    with tempfile.TemporaryDirectory() as d:
        root = os.path.join(d, "ctx")
        block = os.urandom(size)
        for i in range(args.files):
            sub = os.path.join(root, f"d{i // 100:03d}")
            os.makedirs(sub, exist_ok=True)
            with open(os.path.join(sub, f"f{i:05d}"), "wb") as f:
                f.write(block[i % 7 :] + block[: i % 7])
        total = args.files * size
        os.sync()
        t0 = time.perf_counter()
        h = hashlib.sha256()
        for dirpath, _, names in os.walk(root):
            for n in names:
                with open(os.path.join(dirpath, n), "rb") as f:
                    h.update(f.read())
        raw = time.perf_counter() - t0
        cache = StatCache(os.path.join(d, "stat.json"))
        t0 = time.perf_counter()
        checksum(root, cache=cache)
        cold = time.perf_counter() - t0
        cache.save()
        warm_cache = StatCache(os.path.join(d, "stat.json"))
        t0 = time.perf_counter()
        checksum(root, cache=warm_cache)
        warm = time.perf_counter() - t0
    mb = total / 1e6
    print(f"context: {args.files} files, {mb:.0f} MB")
    print(f"raw one-pass sha256 : {raw:6.3f} s  {mb / raw:7.1f} MB/s  (baseline)")
    print(f"cold checksum       : {cold:6.3f} s  {mb / cold:7.1f} MB/s  ratio {raw / cold:4.2f}x of baseline  goal ≥ 150 MB/s "
          f"{'ok' if mb / cold >= 150 else 'SLOW'}")
    print(f"warm checksum       : {warm:6.3f} s  (stat cache, {warm_cache.hits} hits)  goal ≤ 0.2 s {'ok' if warm <= 0.2 else 'SLOW'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
