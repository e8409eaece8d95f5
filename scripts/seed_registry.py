"""Push a busybox image made from Debian's busybox-static to a registry: the offline base image of
the demo, the tests and the benchmarks (no Docker Hub here).

    python scripts/seed_registry.py 127.0.0.1:5000 [--repo library/busybox:latest]
        [--busybox ARCH=PATH ...] [--env KEY=VALUE ...]

The host's ``busybox`` is used for the host's architecture; ``--busybox arm64=/path`` (or
``arm/v7=/path``) adds other architectures (an index with one manifest per architecture is pushed). The rootfs holds busybox,
its applet links, /etc/passwd (root, app) and /etc/group; layers are deterministic.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import os
import platform as host_platform
import shutil
import subprocess
import sys
import tempfile

import anyio

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from bake.content import oci
from bake.registry.client import RegistryClient
from bake.registry.reference import parse_reference
from bake.worker.differ import layer_bytes

_ARCH = {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm"}


def rootfs(busybox: str, dest: str) -> None:
    for d in ("bin", "etc", "tmp", "root", "home/app"):
        os.makedirs(os.path.join(dest, d), exist_ok=True)
    os.chmod(os.path.join(dest, "tmp"), 0o1777)
    shutil.copy2(busybox, os.path.join(dest, "bin", "busybox"))
    applets = subprocess.run([shutil.which("busybox") or busybox, "--list"], capture_output=True, text=True,
                             check=True).stdout.split()
    for name in applets:
        if name != "busybox":
            os.symlink("busybox", os.path.join(dest, "bin", name))
    with open(os.path.join(dest, "etc", "passwd"), "w") as f:
        f.write("root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\n")
    with open(os.path.join(dest, "etc", "group"), "w") as f:
        f.write("root:x:0:\napp:x:1000:\nwheel:x:10:app\n")


def owned(tar: bytes) -> bytes:
    """The layer with the image's owners (root, and app for /home/app), whoever runs this script."""
    import io
    import tarfile

    out = io.BytesIO()
    with tarfile.open(fileobj=io.BytesIO(tar)) as src, tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as dst:
        for m in src:
            m.uid, m.gid = (1000, 1000) if m.name == "home/app" else (0, 0)
            dst.addfile(m, src.extractfile(m) if m.isreg() else None)
    return out.getvalue()


def image(busybox: str, arch: str, variant: str = "", env: tuple[str, ...] = ()) -> tuple[oci.Document, dict[str, bytes]]:
    with tempfile.TemporaryDirectory() as d:
        rootfs(busybox, d)
        tar = owned(layer_bytes(d, source_date_epoch=0))
    layer = gzip.compress(tar, mtime=0)
    diff_id = "sha256:" + hashlib.sha256(tar).hexdigest()
    body: dict[str, object] = {"architecture": arch, "os": "linux", "created": "1970-01-01T00:00:00Z",
            "config": {"Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", *env],
                       "Cmd": ["sh"]},
            "rootfs": {"type": "layers", "diff_ids": [diff_id]},
            "history": [{"created": "1970-01-01T00:00:00Z", "created_by": "busybox-static from Debian"}]}
    if variant:
        body["variant"] = variant
    config = oci.Document(oci.CONFIG, body, oci.encode(body))
    desc = oci.Descriptor(oci.LAYER_GZIP, "sha256:" + hashlib.sha256(layer).hexdigest(), len(layer))
    return oci.manifest(config.descriptor(), [desc]), {config.digest: config.raw, desc.digest: layer}


async def push(registry: str, repo: str, binaries: dict[str, str], env: tuple[str, ...] = ()) -> str:
    ref = parse_reference(f"{registry}/{repo}")
    client = RegistryClient()
    try:
        descriptors = []
        for arch, path in sorted(binaries.items()):
            architecture, _, variant = arch.partition("/")  # "arm/v7"
            manifest, blobs = image(path, architecture, variant, env)
            for digest, data in blobs.items():
                await client.push_blob(ref, digest, data)
            await client.push_manifest(ref, manifest, tag=manifest.digest)
            descriptors.append(manifest.descriptor(oci.Platform("linux", architecture, variant)))
        return await client.push_manifest(ref, oci.index(descriptors))
    finally:
        await client.aclose()


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("registry")
    p.add_argument("--repo", default="library/busybox:latest")
    p.add_argument("--busybox", action="append", default=[], metavar="ARCH=PATH")
    p.add_argument("--env", action="append", default=[], metavar="KEY=VALUE", help="extra Env of the image config")
    a = p.parse_args()
    host = shutil.which("busybox")
    if host is None:
        sys.exit("busybox is not installed (apt-get install busybox-static)")
    binaries = {_ARCH.get(host_platform.machine(), host_platform.machine()): host}
    binaries.update(dict(item.split("=", 1) for item in a.busybox))
    digest = anyio.run(push, a.registry, a.repo, binaries, tuple(a.env))
    print(f"{a.registry}/{a.repo}@{digest} ({', '.join(sorted(binaries))})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
