"""Worker speed: container start overhead per RUN (runc), and layer tar + gzip / zstd throughput.

Goals (issue 4): median overhead of a trivial RUN ≤ 60 ms over 50 runs (baseline printed: the
same ``/bin/true`` via plain ``subprocess``); layer tar and gzip throughput reported.
The sandbox's cost (issue 10): the same RUN without the seccomp filter, and with the build's
shared network namespace (slirp4netns) instead of ``network=none``, plus that namespace's set-up.
Per-step mounts (issue 14): a RUN rootfs's overlay mount + unmount by system call against mount(8)/umount(8).
Needs root, runc and busybox-static (scripts/setup.sh installs them).

Run: .venv/bin/python benchmarks/worker_speed.py [--runs N]
"""

from __future__ import annotations

import argparse
import gzip
import os
import shutil
import statistics
import subprocess
import tempfile
import time

import anyio

from bake.content.compression import compress
from bake.worker import executor
from bake.worker.differ import layer_bytes
from bake.worker.executor import Process, RuncExecutor
from bake.worker.network import BuildNetwork


def busybox_rootfs(root: str) -> None:
    os.makedirs(os.path.join(root, "bin"))
    os.makedirs(os.path.join(root, "etc"))
    busybox = shutil.which("busybox") or "/bin/busybox"
    shutil.copy2(busybox, os.path.join(root, "bin", "busybox"))
    for name in ("sh", "true"):
        os.symlink("busybox", os.path.join(root, "bin", name))


RUNTIME = "runc"


async def run_many(root: str, state: str, runs: int, network: str = "none") -> list[float]:
    ex = RuncExecutor(state, runtime=RUNTIME)
    times = []
    try:
        for _ in range(runs):
            t0 = time.perf_counter()
            result = await ex.run(root, Process(("/bin/true",), network=network))
            times.append(time.perf_counter() - t0)
            assert result.exit_code == 0
    finally:
        ex.close()
    return times


def sandbox_costs(root: str, state: str, runs: int, base: list[float]) -> None:
    """Per-RUN cost of the seccomp filter and of the shared network namespace (runs interleaved,
    so load elsewhere on the machine hits every variant alike), and the namespace's set-up."""
    config = executor.runtime_config

    def unfiltered(*args: object, **kw: object) -> dict[str, object]:
        doc = config(*args, **kw)  # type: ignore[arg-type]
        doc["linux"].pop("seccomp", None)  # type: ignore[attr-defined]
        return doc

    async def measure() -> dict[str, list[float]]:
        ex = RuncExecutor(state, runtime=RUNTIME)
        times: dict[str, list[float]] = {"no seccomp": [], "seccomp": [], "seccomp, shared namespace": []}
        try:
            await ex.run(root, Process(("/bin/true",)))  # the namespace exists before timing
            for _ in range(runs):
                for name in times:
                    executor.runtime_config = unfiltered if name == "no seccomp" else config
                    t0 = time.perf_counter()
                    await ex.run(root, Process(("/bin/true",), network="default" if "shared" in name else "none"))
                    times[name].append(time.perf_counter() - t0)
        finally:
            executor.runtime_config = config
            ex.close()
        return times

    med = {k: statistics.median(v) for k, v in anyio.run(measure).items()}
    network = BuildNetwork(state)
    t0 = time.perf_counter()
    network.path()
    setup = time.perf_counter() - t0
    network.close()
    plain, filtered, shared = med["no seccomp"], med["seccomp"], med["seccomp, shared namespace"]
    print(f"sandbox ({RUNTIME}, network=none): RUN without seccomp {plain * 1000:.1f} ms, with {filtered * 1000:.1f} ms "
          f"(+{(filtered - plain) * 1000:.1f} ms, ratio {filtered / plain:.2f}); in the build's shared network namespace "
          f"{shared * 1000:.1f} ms (ratio {shared / filtered:.2f}); its set-up once per build {setup * 1000:.0f} ms; "
          f"plain subprocess {statistics.median(base) * 1000:.1f} ms")


def mount_costs(d: str, runs: int) -> None:
    """A RUN's rootfs mount and unmount (an overlay of two lowers and an upper), by system call
    (what the snapshotter does) against mount(8)/umount(8) (what it did), interleaved."""
    from bake.worker import mounts

    dirs = {n: os.path.join(d, "mnt-" + n) for n in ("low1", "low2", "upper", "work", "merged")}
    for path in dirs.values():
        os.makedirs(path)
    options = f"lowerdir={dirs['low1']}:{dirs['low2']},upperdir={dirs['upper']},workdir={dirs['work']}"
    by_call, by_tool = [], []
    for _ in range(runs):
        t0 = time.perf_counter()
        mounts.overlay(options, dirs["merged"])
        mounts.unmount(dirs["merged"])
        t1 = time.perf_counter()
        subprocess.run(["mount", "-t", "overlay", "overlay", "-o", options, dirs["merged"]], check=True)
        subprocess.run(["umount", dirs["merged"]], check=True)
        by_tool.append(time.perf_counter() - t1)
        by_call.append(t1 - t0)
    call, tool = statistics.median(by_call), statistics.median(by_tool)
    print(f"rootfs mount + unmount: by system call {call * 1000:.2f} ms, with mount(8)/umount(8) {tool * 1000:.1f} ms "
          f"(baseline; {tool / call:.0f}x)")


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=50)
    ap.add_argument("--layer-mb", type=int, default=100)
    ap.add_argument("--runtime", default="runc", help="runc or crun")
    args = ap.parse_args()
    global RUNTIME
    RUNTIME = args.runtime
    with tempfile.TemporaryDirectory() as d:
        root = os.path.join(d, "rootfs")
        busybox_rootfs(root)
        base = []
        for _ in range(args.runs):
            t0 = time.perf_counter()
            subprocess.run(["/bin/true"], check=True)
            base.append(time.perf_counter() - t0)
        times = anyio.run(run_many, root, d, args.runs)
        med, b = statistics.median(times), statistics.median(base)
        print(f"RUN overhead ({RUNTIME}, /bin/true, {args.runs} runs): median {med * 1000:.1f} ms, "
              f"p90 {sorted(times)[int(len(times) * 0.9)] * 1000:.1f} ms; plain subprocess {b * 1000:.1f} ms "
              f"(ratio {med / b:.0f}x)  goal ≤ 60 ms {'ok' if med <= 0.060 else 'SLOW'}")
        sandbox_costs(root, d, args.runs, base)
        mount_costs(d, args.runs)

        upper = os.path.join(d, "upper")
        os.makedirs(upper)
        chunk = os.urandom(1 << 20)
        text = (b"The same inputs give the same bytes. " * 30000)[: 1 << 20]
        for i in range(args.layer_mb):
            with open(os.path.join(upper, f"f{i:04d}"), "wb") as f:
                f.write(chunk if i % 2 else text)
        t0 = time.perf_counter()
        data = layer_bytes(upper)
        tar_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        packed = gzip.compress(data, compresslevel=6)
        gz_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        zpacked = compress(data, "zstd")
        zs_s = time.perf_counter() - t0
        mb = len(data) / 1e6
        print(f"layer tar: {mb:.0f} MB in {tar_s:.2f} s ({mb / tar_s:.0f} MB/s); gzip -6: {gz_s:.2f} s "
              f"({mb / gz_s:.0f} MB/s, ratio {len(packed) / len(data):.2f}); zstd -3: {zs_s:.2f} s "
              f"({mb / zs_s:.0f} MB/s, ratio {len(zpacked) / len(data):.2f}; {gz_s / zs_s:.1f}x gzip's speed)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
