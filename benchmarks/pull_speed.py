"""Pull speed (issue 14): a cold pull of a ~50 MB base-image layer, bake against BuildKit in one run.

The image is made here from a root filesystem (``--rootfs``: e.g. ``debootstrap --variant=minbase
bookworm DIR`` without apt's lists and .debs, about the size of Docker Hub's debian image; without
it, a tree of the host's ``/usr`` files of ``--size`` MB) and pushed to a registry in four forms:
one gzip layer (one member, as Go writes it), one zstd layer, the same tree as four gzip layers, and
a busybox-sized image as the fixed-cost baseline. Then, cold each time, interleaved:

- ``bake pull``: the worker's image store pulling (fetch, verify, unpack into snapshots), timed
  inside its process (no interpreter start-up);
- ``bake``: the CLI building ``FROM <image>`` + ``RUN true`` with a fresh state root;
- ``buildkit``: the same Dockerfile through ``buildctl`` after ``buildctl prune --all``
  (when ``BUILDKIT_HOST`` is set: ``source /work/ref/env.sh``; its registry must be plain HTTP there);
- with ``--baseline DIR`` (a tree holding another version's ``bake/``, e.g. ``git archive <commit>
  bake | tar -x -C DIR``): ``before pull`` and ``before``, the same two with that code.

Roots are deleted only at the end: on ext4 a burst of deletions makes the next inode allocations
near them slow for minutes (``recently_deleted`` in the allocator: 20 → 500 µs per file here), which
would bill one run's clean-up to the next. Prints medians of wall and CPU seconds (bake's processes; buildkitd's own counters) and the ratios.
CPU is the steadier figure on a loaded machine. Needs root (overlay mounts), runc and a registry.

Run: .venv/bin/python benchmarks/pull_speed.py --registry 127.0.0.1:5000 [--rootfs DIR] [--runs 3]
     [--baseline DIR] [--only gzip,zstd,gzip-4,small] [--pushed]
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import io
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import anyio
import zstandard

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bake.content import oci  # noqa: E402
from bake.registry.client import RegistryClient  # noqa: E402
from bake.registry.reference import parse_reference  # noqa: E402
from bake.worker.differ import layer_bytes  # noqa: E402


def host_tree(dest: str, size_mb: int) -> None:
    """A tree of the host's /usr files (sorted, so the same host gives the same tree) of ~size_mb."""
    budget = size_mb << 20
    for dirpath, dirnames, filenames in os.walk("/usr"):
        dirnames.sort()
        for name in sorted(filenames):
            src = os.path.join(dirpath, name)
            if budget <= 0:
                return
            if not os.path.isfile(src) or os.path.islink(src):
                continue
            dst = os.path.join(dest, os.path.relpath(src, "/"))
            os.makedirs(os.path.dirname(dst), exist_ok=True)
            shutil.copy2(src, dst)
            budget -= os.path.getsize(src)


def split(tar: bytes, parts: int) -> list[bytes]:
    """The layer's entries spread over ``parts`` tars by size (directories and symlinks in the
    first, a hard link beside its target)."""
    outs = [io.BytesIO() for _ in range(parts)]
    writers = [tarfile.open(fileobj=o, mode="w", format=tarfile.PAX_FORMAT) for o in outs]  # noqa: SIM115
    sizes = [0] * parts
    where: dict[str, int] = {}
    with tarfile.open(fileobj=io.BytesIO(tar)) as src:
        for m in src:
            if m.isreg():
                n = where[m.name] = sizes.index(min(sizes))
                sizes[n] += m.size
                writers[n].addfile(m, src.extractfile(m))
            else:
                writers[where.get(m.linkname, 0) if m.islnk() else 0].addfile(m)
    for w in writers:
        w.close()
    return [o.getvalue() for o in outs]


def sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


async def push(registry: str, tag: str, tars: list[bytes], kind: str) -> int:
    """Push an image of the given layer tars; returns the compressed size."""
    ref = parse_reference(f"{registry}/bench/pull:{tag}")
    client = RegistryClient()
    try:
        layers, diff_ids = [], []
        for tar in tars:
            blob = gzip.compress(tar, 6, mtime=0) if kind == "gzip" else zstandard.ZstdCompressor(level=3).compress(tar)
            await client.push_blob(ref, sha(blob), blob)
            layers.append(oci.Descriptor(oci.LAYER_GZIP if kind == "gzip" else oci.LAYER_ZSTD, sha(blob), len(blob)))
            diff_ids.append(sha(tar))
        body = {"architecture": "amd64", "os": "linux", "config": {"Cmd": ["sh"]},
                "rootfs": {"type": "layers", "diff_ids": diff_ids}}
        config = oci.Document(oci.CONFIG, body, oci.encode(body))
        await client.push_blob(ref, config.digest, config.raw)
        await client.push_manifest(ref, oci.manifest(config.descriptor(), layers))
        return sum(d.size for d in layers)
    finally:
        await client.aclose()


PULL = """
import os, sys, time, anyio
from bake.content import oci
from bake.content.store import ContentStore
from bake.registry.client import RegistryClient
from bake.registry.reference import parse_reference
from bake.worker.images import ImageStore
from bake.worker.snapshot import Snapshotter
root = sys.argv[2]
images = ImageStore(root, ContentStore(os.path.join(root, "content")), Snapshotter(root))
async def pull():
    client = RegistryClient()
    try:
        await images.pull(lambda: client, parse_reference(sys.argv[1]), oci.Platform("linux", "amd64"))
    finally:
        await client.aclose()
start = time.perf_counter()
anyio.run(pull)
print(time.perf_counter() - start, time.process_time())
"""


def bake_pull(code: str, image: str, work: str) -> tuple[float, float]:
    """A cold in-process pull with the bake of ``code`` (fetch, verify, unpack into a fresh root):
    (wall, CPU) seconds of the pull alone, without the interpreter's start."""
    root = tempfile.mkdtemp(prefix="root-", dir=work)
    out = subprocess.run([sys.executable, "-c", PULL, image, root], check=True, capture_output=True, text=True,
                         env={**os.environ, "PYTHONPATH": code}).stdout.split()
    return float(out[0]), float(out[1])  # roots stay until the end (see main)


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


Way = Callable[[str, str, str], tuple[float, float]]


def project(image: str, work: str) -> str:
    d = tempfile.mkdtemp(prefix="ctx-", dir=work)
    Path(d, "Dockerfile").write_text(f"FROM {image}\nRUN true\n")
    Path(d, "docker-bake.hcl").write_text('target "default" {}\n')
    return d


def bake_cli(code: str, image: str, work: str) -> tuple[float, float]:
    """The CLI of ``code`` building ``FROM image`` + ``RUN true`` with a fresh root: (wall, CPU)."""
    d = project(image, work)
    root = os.path.join(d, "root")
    cpu, start = children_cpu(), time.perf_counter()
    env = {k: v for k, v in os.environ.items() if k not in ("BUILDX_BUILDER", "DOCKER_CONFIG")}  # not on BuildKit
    subprocess.run([sys.executable, "-m", "bake", "--progress", "quiet", "--root", root],
                   cwd=d, check=True, capture_output=True, env={**env, "PYTHONPATH": code})
    return time.perf_counter() - start, children_cpu() - cpu


def buildkitd_cpu() -> float:
    """CPU seconds buildkitd (and the runc children it waited for) has used so far."""
    pid = subprocess.run(["pgrep", "-o", "-x", "buildkitd"], capture_output=True, text=True).stdout.split()
    if not pid:
        return 0.0
    fields = Path(f"/proc/{pid[0]}/stat").read_text().rpartition(")")[2].split()
    return sum(int(x) for x in fields[11:15]) / os.sysconf("SC_CLK_TCK")


def buildkit(code: str, image: str, work: str) -> tuple[float, float]:
    """The same build through buildctl after ``buildctl prune --all``: (wall, buildkitd's CPU)."""
    subprocess.run(["buildctl", "prune", "--all"], check=True, capture_output=True)
    d = project(image, work)
    cpu, start = buildkitd_cpu(), time.perf_counter()
    subprocess.run(["buildctl", "build", "--frontend", "dockerfile.v0", "--local", f"context={d}",
                    "--local", f"dockerfile={d}"], check=True, capture_output=True)
    took = time.perf_counter() - start, buildkitd_cpu() - cpu
    shutil.rmtree(d)
    return took


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--registry", default="127.0.0.1:5000")
    ap.add_argument("--rootfs", help="the tree of the image (default: host /usr files of --size MB)")
    ap.add_argument("--size", type=int, default=120)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--only", help="comma-separated image forms to run (gzip, zstd, gzip-4, small)")
    ap.add_argument("--pushed", action="store_true", help="the images are in the registry from an earlier run")
    ap.add_argument("--code", default=str(REPO), help="the directory holding the bake/ to measure (default: "
                    "this checkout; a frozen copy keeps others' edits in progress out of a long run)")
    ap.add_argument("--baseline", help="another checkout's directory holding bake/ (e.g. `git archive` of the "
                    "commit before) to measure in the same run")
    args = ap.parse_args()
    with_buildkit = bool(os.environ.get("BUILDKIT_HOST")) and shutil.which("buildctl") is not None
    work = tempfile.mkdtemp(prefix="bake-pull-bench-", dir="/var/tmp")
    try:
        tree = args.rootfs
        if tree is None:
            tree = os.path.join(work, "tree")
            host_tree(tree, args.size)
        tar = layer_bytes(tree, source_date_epoch=0)
        small_dir = os.path.join(work, "small")
        os.makedirs(os.path.join(small_dir, "bin"))
        shutil.copy2(shutil.which("busybox") or "/bin/busybox", os.path.join(small_dir, "bin", "busybox"))
        os.symlink("busybox", os.path.join(small_dir, "bin", "sh"))
        os.symlink("busybox", os.path.join(small_dir, "bin", "true"))
        forms = {"gzip": ([tar], "gzip"), "zstd": ([tar], "zstd"), "gzip-4": (split(tar, 4), "gzip"),
                 "small": ([layer_bytes(small_dir, source_date_epoch=0)], "gzip")}
        if args.only:
            forms = {k: v for k, v in forms.items() if k in args.only.split(",")}
        print(f"tree: {args.rootfs or f'host /usr files, {args.size} MB'} — layer tar {len(tar) / 1e6:.1f} MB")
        for name, (tars, kind) in forms.items() if not args.pushed else ():
            size = anyio.run(push, args.registry, name, tars, kind)
            print(f"  {name:7s} {len(tars)} layer(s), {size / 1e6:.1f} MB compressed")
        code = args.code
        ways: dict[str, tuple[Way, str]] = {"bake pull": (bake_pull, code), "bake": (bake_cli, code)}
        if args.baseline:
            ways = {"before pull": (bake_pull, args.baseline), **ways, "before": (bake_cli, args.baseline)}
        if with_buildkit:
            ways["buildkit"] = (buildkit, code)
        times: dict[tuple[str, str], list[tuple[float, float]]] = {}
        for _ in range(args.runs):
            for name in forms:
                for way, (fn, tree_of_code) in ways.items():
                    got = fn(tree_of_code, f"{args.registry}/bench/pull:{name}", work)
                    times.setdefault((name, way), []).append(got)
        print(f"\ncold, median of {args.runs}: wall s (CPU s) — load average now {os.getloadavg()[0]:.1f}")
        print(f"  {'image':8s} " + " ".join(f"{w:>14s}" for w in ways))
        for name in forms:
            cells = []
            for w in ways:
                wall = statistics.median(t[0] for t in times[(name, w)])
                cpu = statistics.median(t[1] for t in times[(name, w)])
                cells.append(f"{wall:6.2f} ({cpu:5.2f})")
            print(f"  {name:8s} " + " ".join(f"{c:>14s}" for c in cells))
        ratios = [("bake", "buildkit")] if with_buildkit else []
        ratios += [("bake pull", "before pull"), ("bake", "before")] if args.baseline else []
        for a, b in ratios:
            print(f"\n{a} / {b}, wall (CPU):")
            for name in forms:
                wall = [statistics.median(t[0] for t in times[(name, w)]) for w in (a, b)]
                cpu = [statistics.median(t[1] for t in times[(name, w)]) for w in (a, b)]
                print(f"  {name:8s} {wall[0] / wall[1]:.2f}× ({cpu[0] / cpu[1]:.2f}×)")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
