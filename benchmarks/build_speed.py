"""Build speed (issue 5): fan-out of shared work, warm no-op rebuilds, and where a cold build spends time.

1. Fan-out: 8 targets share a base stage with a ``sleep 1`` step, and each has its own ``sleep 1``.
   Goal: the shared step runs once and wall time ≤ 1.25 × the critical path (2 s) + 0.5 s. Baseline
   measured in the same run: the same targets built one by one (≈ 9 s).
2. Warm no-op rebuild of each example (every step cached). Goal ≤ 0.3 s wall for the default group.
3. Cold build of examples/node-monorepo (production exported as an OCI tarball): wall time and the
   time spent in container runs, snapshot mounts, file operations, context copies and checksums,
   image unpacking, layer diffs, compression and writing the tarball.

Needs root, runc, busybox-static and docker-registry (scripts/setup.sh installs them); it starts a
registry on a loopback port, seeded as the demo is (scripts/seed_registry.py).

Run: .venv/bin/python benchmarks/build_speed.py
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BAKE = [sys.executable, "-m", "bake"]


@contextlib.contextmanager
def registry(work: Path) -> Iterator[str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cfg = work / "registry.yml"
    cfg.write_text(f"version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: {work}/data\n"
                   f"http:\n  addr: 127.0.0.1:{port}\n")
    proc = subprocess.Popen(["docker-registry", "serve", str(cfg)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(100):
            with contextlib.suppress(OSError):
                urllib.request.urlopen(f"http://127.0.0.1:{port}/v2/", timeout=1)
                break
            time.sleep(0.1)
        subprocess.run([sys.executable, str(REPO / "scripts" / "seed_registry.py"), f"127.0.0.1:{port}"], check=True,
                       capture_output=True)
        yield f"127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait()


def bake(cwd: Path, env: dict[str, str], *args: str) -> float:
    start = time.perf_counter()
    subprocess.run([*BAKE, "--progress=quiet", *args], cwd=cwd, env=env, check=True)
    return time.perf_counter() - start


FANOUT = """FROM busybox AS base
RUN sleep 1 && echo shared > /shared
""" + "".join(f"FROM base AS t{n}\nRUN sleep 1 && echo {n} > /mine\n" for n in range(8))


def fan_out(work: Path, env: dict[str, str]) -> None:
    d = work / "fanout"
    d.mkdir()
    (d / "Dockerfile").write_text(FANOUT)
    names = [f"t{n}" for n in range(8)]
    (d / "docker-bake.hcl").write_text(
        f'group "default" {{\n  targets = {names!r}\n}}\n'.replace("'", '"')
        + "".join(f'target "{t}" {{\n  target = "{t}"\n}}\n' for t in names))
    # Both roots start with the bake file already parsed (``--print`` fills the parse cache, as any
    # earlier run would): what is measured is building.
    for root in ("fanout-root", "fanout-seq-root"):
        subprocess.run([*BAKE, "--print"], cwd=d, env={**env, "BAKE_ROOT": str(work / root)}, check=True,
                       capture_output=True)
    together = bake(d, {**env, "BAKE_ROOT": str(work / "fanout-root")})
    one_by_one = 0.0
    for t in names:
        one_by_one += bake(d, {**env, "BAKE_ROOT": str(work / "fanout-seq-root")}, t)
    goal = 1.25 * 2 + 0.5
    print("fan-out, 8 targets sharing a 1 s step, each with its own 1 s step (critical path 2 s):")
    print(f"  all at once   {together:6.2f} s   (goal ≤ {goal:.2f} s: {'met' if together <= goal else 'MISSED'})")
    print(f"  one by one    {one_by_one:6.2f} s   (baseline)")
    print(f"  ratio         {one_by_one / together:6.2f} x faster")


def warm(work: Path, env: dict[str, str]) -> None:
    print("warm no-op rebuild of each example's default group (median of 5; goal ≤ 0.30 s):")
    for example in ("go-cross", "node-monorepo", "matrix-release"):
        d = REPO / "examples" / example
        # REGISTRY: matrix-release's tags and cache refs point at the local registry (no network here)
        root = {**env, "BAKE_ROOT": str(work / f"warm-{example}"), "REGISTRY": env["BAKE_REGISTRY_HOST"]}
        flags = ["--set", "*.platform=linux/amd64"]
        cold = bake(d, root, *flags)
        times = [bake(d, root, *flags) for _ in range(5)]
        med = statistics.median(times)
        print(f"  {example:15s} cold {cold:5.2f} s   warm {med:5.2f} s   ({cold / med:4.1f}x)   "
              f"{'met' if med <= 0.3 else 'MISSED'}")


PHASES = {  # label: (module, attribute path) of the function doing it
    "container runs": ("bake.worker.executor", "RuncExecutor.run"),
    "snapshot mounts": ("bake.worker.snapshot", "Snapshotter.mount"),
    "snapshot unmounts": ("bake.worker.snapshot", "Snapshotter.unmount"),
    "file operations": ("bake.worker.ops.file", "apply_actions"),
    "context copies": ("bake.worker.ops.source", "_copy_context"),
    "context checksums": ("bake.worker.keys", "checksum"),
    "image unpack": ("bake.worker.images", "ImageStore.unpack"),
    "layer diffs": ("bake.worker.layers", "write_layer"),
    "compression": ("bake.worker.layers", "compress"),
    "OCI tar writing": ("bake.exporter.ocilayout", "write_tar"),
}


def instrument(totals: dict[str, float]) -> None:
    """Wrap each phase's function with a timer (in this process only: a benchmark, not the product)."""
    import importlib
    import inspect
    import threading

    lock = threading.Lock()

    def add(label: str, seconds: float) -> None:
        with lock:
            totals[label] = totals.get(label, 0.0) + seconds

    for label, (module, path) in PHASES.items():
        owner: object = importlib.import_module(module)
        *parents, name = path.split(".")
        for part in parents:
            owner = getattr(owner, part)
        fn = getattr(owner, name)
        if inspect.iscoroutinefunction(fn):
            async def timed_async(*a: object, __fn=fn, __label=label, **k: object) -> object:
                t = time.perf_counter()
                try:
                    return await __fn(*a, **k)
                finally:
                    add(__label, time.perf_counter() - t)
            setattr(owner, name, timed_async)
        else:
            def timed(*a: object, __fn=fn, __label=label, **k: object) -> object:
                t = time.perf_counter()
                try:
                    return __fn(*a, **k)
                finally:
                    add(__label, time.perf_counter() - t)
            setattr(owner, name, timed)


def cold(work: Path, env: dict[str, str]) -> None:
    """One cold build in-process, with the time each phase took (summed over concurrent steps)."""
    from bake.app import Request, resolve
    from bake.app.build import BuildOptions, build

    d = REPO / "examples" / "node-monorepo"
    totals: dict[str, float] = {}
    instrument(totals)
    old = dict(os.environ)
    os.environ.update(env)
    start = time.perf_counter()
    try:
        build(resolve(Request(cwd=str(d), overrides=("*.platform=linux/amd64",
                                            f"production.output=type=oci,dest={work}/node-production.tar"))),
              BuildOptions(root=str(work / "cold-root")))
    finally:
        os.environ.clear()
        os.environ.update(old)
    wall = time.perf_counter() - start
    print(f"cold build of examples/node-monorepo (test and production, linux/amd64): {wall:.2f} s wall")
    for label in PHASES:
        print(f"  {label:18s} {totals.get(label, 0.0):6.3f} s")
    print("  (sums over steps that overlap; production is exported as an OCI tarball: diffs and compression)")


def main() -> int:
    if os.geteuid() != 0 or shutil.which("runc") is None or shutil.which("docker-registry") is None:
        print("needs root, runc and docker-registry (bash scripts/setup.sh)")
        return 1
    with tempfile.TemporaryDirectory(prefix="bake-bench-") as tmp:
        work = Path(tmp)
        with registry(work) as host:
            config = work / "bake.toml"
            config.write_text(f'[registry."docker.io"]\nmirrors = ["{host}"]\n')
            env = {**os.environ, "BAKE_CONFIG": str(config), "PYTHONDONTWRITEBYTECODE": "", "BAKE_REGISTRY_HOST": host}
            env.pop("PYTHONDONTWRITEBYTECODE")
            fan_out(work, env)
            warm(work, env)
            cold(work, env)
    return 0


if __name__ == "__main__":
    sys.exit(main())
