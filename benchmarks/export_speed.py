"""Image export speed (issue 6): layer diff + compression throughput for gzip and zstd, wall time
against layer size, a push to a local registry, and a second push that must upload nothing.

The image is busybox plus one layer of SIZE MB, half random (incompressible) and half zeros. Each
export starts from the same built snapshot with no remembered blob, so what is timed is making the
layer (diff, compress, store) and writing the OCI tarball. Baseline in the same run: ``cp`` of
the layer's files, the floor for reading them.

Run: .venv/bin/python benchmarks/export_speed.py [--sizes 50,200]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from build_speed import registry


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--sizes", default="50,200")
    a = p.parse_args()
    sizes = [int(x) for x in a.sizes.split(",")]
    if os.geteuid() != 0 or shutil.which("docker-registry") is None:
        print("needs root, runc and docker-registry (bash scripts/setup.sh)")
        return 1
    import anyio

    import bake
    from bake.app.outputs import WorkerLayers
    from bake.content.imageconfig import ImageConfig
    from bake.content.store import ContentStore
    from bake.exporter.images import Built, assemble
    from bake.exporter.ocilayout import Named, write_tar
    from bake.exporter.push import push
    from bake.model import OutputSpec
    from bake.registry.client import RegistryClient
    from bake.worker.copysnapshot import open_snapshotter
    from bake.worker.layers import Layers

    with tempfile.TemporaryDirectory(prefix="bake-export-bench-") as tmp:
        work = Path(tmp)
        with registry(work) as host:
            (work / "bake.toml").write_text(f'[registry."docker.io"]\nmirrors = ["{host}"]\n')
            os.environ["BAKE_CONFIG"] = str(work / "bake.toml")
            print(f"{'layer':>8} {'compression':>12} {'blob':>9} {'wall':>7} {'MB/s':>7}   (cp baseline)")
            for size in sizes:
                half = size // 2
                d = work / f"p{size}"
                d.mkdir()
                (d / "Dockerfile").write_text(
                    f"FROM busybox\nRUN head -c {half}m /dev/urandom > /random && head -c {half}m /dev/zero > /zeros\n")
                (d / "docker-bake.hcl").write_text('target "default" {}\n')
                root = work / f"root{size}"
                (result,) = bake.build(cwd=str(d), root=str(root))
                sid = result.results[0]
                assert sid is not None
                snaps = open_snapshotter(str(root))
                store = ContentStore(str(root / "content"))
                upper = snaps.upper(sid)
                t0 = time.perf_counter()
                subprocess.run(["cp", "-a", upper, str(work / f"copy{size}")], check=True)
                floor = time.perf_counter() - t0
                for compression in ("gzip", "zstd"):
                    if (root / "layerblobs.json").exists():
                        (root / "layerblobs.json").unlink()  # forget made blobs: time making them
                    layers = Layers(str(root), store, snaps)
                    t0 = time.perf_counter()
                    top = assemble(store, WorkerLayers(layers), [Built("linux/amd64", sid, ImageConfig())],
                                   OutputSpec("oci", compression=compression), created=time.time())
                    write_tar(store, [Named(top, ("bench:1",))], str(work / f"out-{size}-{compression}.tar"))
                    wall = time.perf_counter() - t0
                    blob = layers.layer(sid, compression).descriptor.size
                    print(f"{size:>6}MB {compression:>12} {blob / 1e6:>7.1f}MB {wall:>6.2f}s {size / wall:>7.1f}"
                          f"   ({size / floor:.0f} MB/s)")
            # push the largest image, then push it again
            ref = f"{host}/bench/big:1"

            async def push_twice() -> tuple[float, int, float, int]:
                client = RegistryClient()
                try:
                    t0 = time.perf_counter()
                    n1 = await push(client, store, top, [ref])
                    first = time.perf_counter() - t0
                    again = RegistryClient()
                    try:
                        t0 = time.perf_counter()
                        n2 = await push(again, store, top, [ref])
                        second = time.perf_counter() - t0
                    finally:
                        await again.aclose()
                    return first, n1, second, n2
                finally:
                    await client.aclose()

            first, n1, second, n2 = anyio.run(push_twice)
            print(f"push of the {sizes[-1]} MB image (zstd) to the local registry: {first:.2f} s, {n1} blobs uploaded")
            print(f"second push, nothing changed: {second:.2f} s, {n2} blobs uploaded "
                  f"({'met' if n2 == 0 else 'MISSED'}: no upload), {first / max(second, 1e-6):.0f}x faster")
    return 0


if __name__ == "__main__":
    sys.exit(main())
