"""Real containers with runc: output, env, cwd, users, networking, mounts, exit codes, stubs."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from bake.worker.errors import ExecError, UserError
from bake.worker.executor import Mount, Process, RuncExecutor
from bake.worker.snapshot import Snapshotter
from bake.worker.users import resolve_user

pytestmark = [pytest.mark.anyio, pytest.mark.root]


@pytest.fixture
def rootfs(busybox_rootfs: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "rootfs"
    shutil.copytree(busybox_rootfs, copy, symlinks=True)
    return copy


async def run(rootfs: Path, tmp_path: Path, process: Process, mounts: tuple[Mount, ...] = ()) -> tuple[int, str, tuple[str, ...]]:
    out: list[bytes] = []
    executor = RuncExecutor(str(tmp_path), runtime=os.environ.get("BAKE_TEST_RUNTIME", "runc"))
    try:
        result = await executor.run(str(rootfs), process, mounts, out.append)
    finally:
        executor.close()
    return result.exit_code, b"".join(out).decode(), result.stubs


async def test_output_env_cwd_and_hostname(rootfs: Path, tmp_path: Path) -> None:
    code, out, _ = await run(rootfs, tmp_path, Process(("/bin/sh", "-c", "echo $FOO; pwd; hostname; echo $PATH"),
                                                        env=("FOO=bar",), cwd="/work/dir"))
    assert code == 0
    assert out.splitlines() == ["bar", "/work/dir", "buildkitsandbox", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]


async def test_users_resolve_through_the_image(rootfs: Path, tmp_path: Path) -> None:
    assert resolve_user(str(rootfs), "app") == (1000, 1000, (1000, 10))  # the primary group, then memberships
    assert resolve_user(str(rootfs), "1000:10") == (1000, 10, (10,))
    assert resolve_user(str(rootfs), "4321") == (4321, 0, (0,))  # unknown to passwd: group 0 for a process…
    assert resolve_user(str(rootfs), "4321", chown=True) == (4321, 4321, (4321,))  # …its own id for --chown
    with pytest.raises(UserError, match="unable to find user nobody"):
        resolve_user(str(rootfs), "nobody")
    code, out, _ = await run(rootfs, tmp_path, Process(("/bin/sh", "-c", "id -u; id -g; id -G"), user="app"))
    assert code == 0 and out.split() == ["1000", "1000", "1000", "10"]


async def test_network_none_has_only_loopback_and_host_needs_its_entitlement(rootfs: Path, tmp_path: Path) -> None:
    code, out, _ = await run(rootfs, tmp_path, Process(("/bin/sh", "-c", "ls /sys/class/net"), network="none"))
    assert (code, out.split()) == (0, ["lo"])
    host_net = sorted(os.listdir("/sys/class/net"))
    listing = Process(("/bin/sh", "-c", "ls /sys/class/net"), network="host")
    with pytest.raises(ExecError, match=r"network\.host is not allowed"):
        await RuncExecutor(str(tmp_path)).run(str(rootfs), listing)
    out_host: list[bytes] = []
    result = await RuncExecutor(str(tmp_path), allow=("network.host",)).run(str(rootfs), listing, (), out_host.append)
    assert result.exit_code == 0 and sorted(b"".join(out_host).decode().split()) == host_net


async def test_exit_codes_and_extra_hosts(rootfs: Path, tmp_path: Path) -> None:
    code, _, _ = await run(rootfs, tmp_path, Process(("/bin/sh", "-c", "exit 3")))
    assert code == 3
    code, out, _ = await run(rootfs, tmp_path, Process(("cat", "/etc/hosts"), extra_hosts=("db=10.1.2.3",)))
    assert code == 0 and "10.1.2.3\tdb" in out


async def test_mounts_and_stubs(rootfs: Path, tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "secret").write_text("s3cr3t\n")
    cache = tmp_path / "cache"
    cache.mkdir()
    mounts = (
        Mount("/run/secrets", str(data), readonly=True),
        Mount("/cache", str(cache)),
        Mount("/scratch", type="tmpfs", size=1 << 20),
    )
    script = "cat /run/secrets/secret; echo x > /cache/f; echo t > /scratch/t; (echo no > /run/secrets/w) 2>/dev/null || echo ro"
    code, out, stubs = await run(rootfs, tmp_path, Process(("/bin/sh", "-c", script)), mounts)
    assert code == 0
    assert out.splitlines()[0] == "s3cr3t" and out.splitlines()[-1] == "ro"
    assert (cache / "f").read_text() == "x\n"
    assert not (rootfs / "scratch" / "t").exists()  # tmpfs content never reaches the rootfs
    assert set(stubs) >= {"cache", "run/secrets", "scratch", "etc/hosts", "etc/resolv.conf"}


def busybox_snapshot(busybox_rootfs: Path, tmp_path: Path) -> tuple[Snapshotter, str]:
    """A snapshotter under ``tmp_path`` and a committed snapshot holding the busybox rootfs."""
    snaps = Snapshotter(str(tmp_path / "root"))
    base = snaps.prepare(None)
    shutil.copytree(busybox_rootfs, snaps.upper(base), symlinks=True, dirs_exist_ok=True)
    return snaps, snaps.commit(base)


async def test_a_run_on_a_snapshot_becomes_a_clean_layer(busybox_rootfs: Path, tmp_path: Path) -> None:
    import io
    import tarfile

    from bake.worker.differ import layer_bytes

    snaps, base = busybox_snapshot(busybox_rootfs, tmp_path)
    step = snaps.prepare(base)
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    snaps.mount(step, str(mnt))
    try:
        result = await RuncExecutor(str(tmp_path)).run(
            str(mnt), Process(("/bin/sh", "-c", "mkdir -p /app && echo built > /app/out && rm /etc/group"), network="none"))
    finally:
        snaps.unmount(str(mnt))
    assert result.exit_code == 0
    layer = layer_bytes(snaps.upper(step), exclude=set(result.stubs))
    with tarfile.open(fileobj=io.BytesIO(layer)) as t:
        # /dev, /proc and /sys, which busybox lacks, stay as the runtime made them (as BuildKit keeps them)
        assert sorted(m.name for m in t.getmembers()) == ["app", "app/out", "dev", "etc", "etc/.wh.group", "proc", "sys"]


async def test_secrets_reach_the_process_and_never_the_layer(busybox_rootfs: Path, tmp_path: Path) -> None:
    import io
    import tarfile

    from bake.graph.ops import Mount as GraphMount
    from bake.model import SecretEntry
    from bake.worker.differ import layer_bytes
    from bake.worker.errors import SecretError
    from bake.worker.secrets import Secrets

    token = "tok-7f3a9c-very-secret"
    (tmp_path / "aws.txt").write_text("aws-key-123\n")
    secrets = Secrets([SecretEntry("aws", src=str(tmp_path / "aws.txt")), SecretEntry("tok", env="TOKEN")],
                      env={"TOKEN": token}, scratch=str(tmp_path))
    snaps, base = busybox_snapshot(busybox_rootfs, tmp_path)
    step = snaps.prepare(base)
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    file_mount, _ = secrets.realize(GraphMount("/run/secrets/aws", "secret", secret_id="aws", mode=0o400))
    _, env = secrets.realize(GraphMount("", "secret", secret_id="tok", env="TOKEN"))
    assert file_mount is not None and env == {"TOKEN": token}
    with pytest.raises(SecretError, match="secret missing: not found"):
        secrets.realize(GraphMount("/x", "secret", secret_id="missing", required=True))
    out: list[bytes] = []
    snaps.mount(step, str(mnt))
    try:
        script = ('cat /run/secrets/aws; echo "len=${#TOKEN}"; cp /run/secrets/aws /copied 2>/dev/null; '
                  '(echo x > /run/secrets/aws) 2>/dev/null || echo ro; echo done > /out')
        result = await RuncExecutor(str(tmp_path)).run(
            str(mnt), Process(("/bin/sh", "-c", script), env=tuple(f"{k}={v}" for k, v in env.items())),
            (file_mount,), out.append)
    finally:
        snaps.unmount(str(mnt))
        secrets.close()
    assert result.exit_code == 0
    text = b"".join(out).decode()
    assert "aws-key-123" in text and f"len={len(token)}" in text and "ro" in text.split()
    layer = layer_bytes(snaps.upper(step), exclude=set(result.stubs))
    with tarfile.open(fileobj=io.BytesIO(layer)) as t:
        names = sorted(m.name for m in t.getmembers())
    assert "run" not in names and "run/secrets/aws" not in names  # the mount point is a stub
    assert token.encode() not in layer
    # the copy the step made on purpose is the step's own doing, not a leak of the mount; `etc` is
    # the overlay copy-up left by the /etc/hosts stub (a directory entry with no content)
    assert names == ["copied", "dev", "etc", "out", "proc", "sys"]  # the runtime's mount points stay, as in BuildKit
    assert not os.listdir(tmp_path) or not any(p.name.startswith("bake-secrets-") for p in tmp_path.iterdir())


async def test_foreign_platform_without_emulation_fails_before_starting(rootfs: Path, tmp_path: Path) -> None:
    from bake.worker.errors import PlatformError
    from bake.worker.platforms import host_arch

    executor = RuncExecutor(str(tmp_path), binfmt_dir=str(tmp_path / "no-binfmt"))
    foreign = "linux/riscv64" if host_arch() != "riscv64" else "linux/amd64"
    with pytest.raises(PlatformError, match=f"RUN for {foreign} needs emulation"):
        await executor.run(str(rootfs), Process(("/bin/true",), platform=foreign))
    result = await executor.run(str(rootfs), Process(("/bin/true",), platform=f"linux/{host_arch()}"))
    assert result.exit_code == 0


def capabilities(status: str) -> int:
    return int(next(line.split()[1] for line in status.splitlines() if line.startswith("CapEff:")), 16)


async def test_insecure_needs_its_entitlement_and_then_gets_every_capability(rootfs: Path, tmp_path: Path) -> None:
    from bake.worker.executor import MASKED

    masked = next(p for p in MASKED if os.path.exists(p))  # runc masks only what this kernel has
    script = f"cat /proc/self/status; grep -q ' {masked} ' /proc/self/mountinfo && echo path-masked || true"
    with pytest.raises(ExecError, match=r"security\.insecure is not allowed"):
        await RuncExecutor(str(tmp_path)).run(str(rootfs), Process(("/bin/sh", "-c", script), security="insecure"))
    outputs = []
    for security in ("sandbox", "insecure"):
        out: list[bytes] = []
        executor = RuncExecutor(str(tmp_path), allow=("security.insecure",))
        result = await executor.run(str(rootfs), Process(("/bin/sh", "-c", script), security=security), (), out.append)
        assert result.exit_code == 0
        outputs.append(b"".join(out).decode())
    sandbox, insecure = (capabilities(o) for o in outputs)
    ours = capabilities(Path("/proc/self/status").read_text().replace("CapEff", "Mine").replace("CapBnd", "CapEff"))
    assert insecure == ours & ((1 << 41) - 1) and sandbox & (1 << 21) == 0  # CAP_SYS_ADMIN only when insecure
    assert "path-masked" in outputs[0] and "path-masked" not in outputs[1]


async def test_shm_size_and_ulimits(rootfs: Path, tmp_path: Path) -> None:
    code, out, _ = await run(rootfs, tmp_path, Process(
        ("/bin/sh", "-c", "df -k /dev/shm | tail -1; ulimit -n; ulimit -Hn; ulimit -c"),
        shm_size=8 << 20, ulimits=("nofile=1024:2048", "core=-1")))
    assert code == 0
    lines = out.split("\n")
    assert lines[0].split()[1] == "8192"  # KiB
    assert lines[1:4] == ["1024", "2048", "unlimited"]
    with pytest.raises(ExecError, match="invalid ulimit 'nofile=lots'"):
        await run(rootfs, tmp_path, Process(("true",), ulimits=("nofile=lots",)))


async def test_directories_copied_up_only_for_mount_points_stay_out_of_the_layer(busybox_rootfs: Path,
                                                                                 tmp_path: Path) -> None:
    import io
    import tarfile

    from bake.worker.differ import layer_bytes

    snaps, base = busybox_snapshot(busybox_rootfs, tmp_path)
    names = []
    for script in ("true", "echo hi > /etc/motd"):
        step = snaps.prepare(base)
        mnt, below = tmp_path / f"mnt{step}", tmp_path / f"below{step}"
        mnt.mkdir()
        below.mkdir()
        snaps.mount(step, str(mnt))
        try:
            result = await RuncExecutor(str(tmp_path)).run(str(mnt), Process(("/bin/sh", "-c", script)))
        finally:
            snaps.unmount(str(mnt))
        assert result.exit_code == 0 and "etc/hosts" in result.stubs
        assert os.path.isdir(os.path.join(snaps.upper(step), "etc"))  # overlay copied /etc up for the stub
        snaps.mount(base, str(below), readonly=True)
        try:
            layer = layer_bytes(snaps.upper(step), lower=str(below))
        finally:
            snaps.unmount(str(below))
        with tarfile.open(fileobj=io.BytesIO(layer)) as t:
            names.append(sorted(m.name for m in t.getmembers()))
    assert names == [["dev", "proc", "sys"], ["dev", "etc", "etc/motd", "proc", "sys"]]  # the runtime's mount points stay, as in BuildKit


async def test_rw_bind_mounts_from_a_stage_drop_their_changes(busybox_rootfs: Path, tmp_path: Path) -> None:
    snaps, base = busybox_snapshot(busybox_rootfs, tmp_path)
    stage = snaps.prepare(None)
    Path(snaps.upper(stage), "data.txt").write_text("from the stage\n")
    snaps.commit(stage)
    rootfs, source = tmp_path / "rootfs", tmp_path / "source"
    rootfs.mkdir()
    source.mkdir()
    step = snaps.prepare(base)
    snaps.mount(step, str(rootfs))
    try:
        with snaps.scratch(stage, str(source)):
            out: list[bytes] = []
            script = "cat /src/data.txt; echo scribble > /src/data.txt; echo new > /src/new; cat /src/data.txt"
            result = await RuncExecutor(str(tmp_path)).run(str(rootfs), Process(("/bin/sh", "-c", script)),
                                                           (Mount("/src", str(source)),), out.append)
    finally:
        snaps.unmount(str(rootfs))
    assert result.exit_code == 0 and b"".join(out).decode() == "from the stage\nscribble\n"
    assert os.listdir(snaps.upper(stage)) == ["data.txt"] and Path(snaps.upper(stage), "data.txt").read_text() == "from the stage\n"
    assert sorted(snaps.ids(), key=int) == sorted([base, stage, step], key=int)  # the throwaway child is gone
