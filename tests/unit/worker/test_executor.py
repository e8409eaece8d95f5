"""The runc executor without a container: the OCI config it writes for a RUN, the files it gives
the container (/etc/hosts, /etc/resolv.conf), what it refuses before starting anything, and — with
a stand-in runtime that acts on the rootfs as runc does — what it leaves in the rootfs afterwards."""

from __future__ import annotations

import os
from pathlib import Path

import anyio
import pytest

from bake.worker.errors import ExecError, PlatformError
from bake.worker.execution import Mount, Process, Result
from bake.worker.executor import CAPABILITIES, DEFAULT_PATH, MASKED, RuncExecutor, resolv_conf, runtime_config
from tests.unit.worker.runtimefake import FakeRuntime

PASSWD = "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\n"
GROUP = "root:x:0:\napp:x:1000:\nwheel:x:10:app\n"


def rootfs(tmp_path: Path) -> Path:
    root = tmp_path / "rootfs"
    (root / "etc").mkdir(parents=True)
    (root / "etc" / "passwd").write_text(PASSWD)
    (root / "etc" / "group").write_text(GROUP)
    return root


def executor(tmp_path: Path, runtime: FakeRuntime, allow: tuple[str, ...] = ()) -> RuncExecutor:
    return RuncExecutor(str(tmp_path / "state"), runtime.path, binfmt_dir=str(tmp_path / "binfmt"),
                        allow=allow, bundles=str(tmp_path / "bundles"))


def run(ex: RuncExecutor, root: Path, process: Process, mounts: tuple[Mount, ...] = (),
        output: list[bytes] | None = None) -> Result:
    return anyio.run(ex.run, str(root), process, mounts, (output if output is not None else []).append)


@pytest.fixture(autouse=True)
def dirs(tmp_path: Path) -> None:
    (tmp_path / "state").mkdir()
    (tmp_path / "bundles").mkdir()


# --- the OCI config ---------------------------------------------------------------------------


def test_a_sandboxed_run_gets_buildkits_defaults() -> None:
    config = runtime_config("/r", Process(("sh", "-c", "make"), ("A=1",), "/src", network="none"), (), 1000, 1000,
                            (1000, 10))
    process = config["process"]
    assert isinstance(process, dict)
    assert process["args"] == ["sh", "-c", "make"]
    assert process["env"] == ["A=1", f"PATH={DEFAULT_PATH}"]  # a PATH is added when the step has none
    assert process["user"] == {"uid": 1000, "gid": 1000, "additionalGids": [1000, 10]}
    assert process["cwd"] == "/src" and process["noNewPrivileges"] is True
    assert process["capabilities"]["bounding"] == list(CAPABILITIES)
    linux = config["linux"]
    assert isinstance(linux, dict)
    assert linux["maskedPaths"] == list(MASKED) and "seccomp" in linux
    assert {"type": "network"} in linux["namespaces"]  # none: a namespace of its own with only lo
    mounts = {m["destination"]: m for m in config["mounts"]}  # type: ignore[attr-defined]
    assert "ro" in mounts["/sys"]["options"] and "size=65536k" in mounts["/dev/shm"]["options"]
    assert config["hostname"] == "buildkitsandbox"


def test_a_path_of_the_step_is_kept() -> None:
    config = runtime_config("/r", Process(("true",), ("PATH=/opt/bin",)), (), 0, 0, (0,))
    assert config["process"]["env"] == ["PATH=/opt/bin"]  # type: ignore[index]


def test_the_network_namespace_follows_the_network_mode() -> None:
    def namespaces(network: str, netns: str | None = None) -> list[dict[str, str]]:
        config = runtime_config("/r", Process(("true",), network=network), (), 0, 0, (0,), netns)
        return [n for n in config["linux"]["namespaces"] if n["type"] == "network"]  # type: ignore[index]

    assert namespaces("default", "/run/build/netns") == [{"type": "network", "path": "/run/build/netns"}]
    assert namespaces("none") == [{"type": "network"}]
    assert namespaces("host") == []  # the host's own (an entitlement)


def test_an_insecure_run_drops_the_sandbox() -> None:
    config = runtime_config("/r", Process(("true",), security="insecure"), (), 0, 0, (0,))
    linux = config["linux"]
    assert isinstance(linux, dict)
    assert linux["maskedPaths"] == [] and linux["readonlyPaths"] == [] and "seccomp" not in linux
    sysfs = next(m for m in config["mounts"] if m["destination"] == "/sys")  # type: ignore[attr-defined]
    assert "rw" in sysfs["options"]
    caps = config["process"]["capabilities"]["bounding"]  # type: ignore[index]
    if os.geteuid() == 0:  # what this process may hand on: as root, more than the defaults
        assert set(CAPABILITIES) < set(caps)


def test_mounts_shm_size_and_ulimits_are_written_as_asked() -> None:
    mounts = (Mount("/cache", "/host/cache"), Mount("/ro", "/host/ro", readonly=True),
              Mount("/tmp", type="tmpfs", size=1 << 20))
    p = Process(("true",), shm_size=1 << 20, ulimits=("nofile=1024:2048", "nproc=-1", "core=5"))
    config = runtime_config("/r", p, mounts, 0, 0, (0,))
    by_dest = {m["destination"]: m for m in config["mounts"]}  # type: ignore[attr-defined]
    assert by_dest["/cache"] == {"destination": "/cache", "type": "bind", "source": "/host/cache",
                                 "options": ["rbind", "rw"]}
    assert by_dest["/ro"]["options"] == ["rbind", "ro"]
    assert by_dest["/tmp"]["type"] == "tmpfs" and f"size={1 << 20}" in by_dest["/tmp"]["options"]
    assert f"size={1 << 20}" in by_dest["/dev/shm"]["options"]
    limits = {r["type"]: (r["soft"], r["hard"]) for r in config["process"]["rlimits"]}  # type: ignore[index]
    assert limits["RLIMIT_NOFILE"] == (1024, 2048)
    assert limits["RLIMIT_NPROC"] == (2**64 - 1, 2**64 - 1)  # -1: unlimited
    assert limits["RLIMIT_CORE"] == (5, 5)  # no hard limit: the soft one


def test_a_malformed_ulimit_is_refused() -> None:
    with pytest.raises(ExecError, match="invalid ulimit 'nofile=many'"):
        runtime_config("/r", Process(("true",), ulimits=("nofile=many",)), (), 0, 0, (0,))


def test_resolv_conf_drops_nameservers_the_container_cannot_reach() -> None:
    host = "search example.com\nnameserver 127.0.0.53\nnameserver ::1\nnameserver 192.0.2.1\n"
    assert resolv_conf(host, slirp=False) == "search example.com\nnameserver 192.0.2.1\n"
    # only loopback resolvers: Google's, as Docker does
    assert resolv_conf("nameserver 127.0.0.1\n", slirp=False) == "nameserver 8.8.8.8\nnameserver 8.8.4.4\n"
    # the build's own network asks slirp4netns's forwarder for everything
    assert resolv_conf(host, slirp=True) == "search example.com\nnameserver 10.0.2.3\n"


# --- refusals before anything starts ------------------------------------------------------------


def test_a_missing_runtime_is_named(tmp_path: Path) -> None:
    with pytest.raises(ExecError, match="no-such-runc is not installed"):
        RuncExecutor(str(tmp_path / "state"), "no-such-runc")


@pytest.mark.parametrize(("process", "message"), [
    (Process(("true",), security="insecure"), "security.insecure is not allowed"),
    (Process(("true",), network="host"), "network.host is not allowed"),
])
def test_entitlements_are_checked_before_a_container_starts(tmp_path: Path, process: Process, message: str) -> None:
    runtime = FakeRuntime(tmp_path / "rt")
    with pytest.raises(ExecError, match=message):
        run(executor(tmp_path, runtime), rootfs(tmp_path), process)
    assert runtime.calls() == []


def test_a_foreign_platform_without_emulation_is_refused_before_a_container_starts(tmp_path: Path) -> None:
    runtime = FakeRuntime(tmp_path / "rt")
    (tmp_path / "binfmt").mkdir()
    foreign = "linux/s390x" if os.uname().machine != "s390x" else "linux/amd64"
    with pytest.raises(PlatformError, match="needs emulation"):
        run(executor(tmp_path, runtime), rootfs(tmp_path), Process(("true",), platform=foreign))
    assert runtime.calls() == []


def test_a_working_directory_that_cannot_be_made_is_an_exec_error(tmp_path: Path) -> None:
    root = rootfs(tmp_path)
    (root / "src").write_text("a file, not a directory")
    runtime = FakeRuntime(tmp_path / "rt")
    with pytest.raises(ExecError, match="cannot create the working directory /src/app"):
        run(executor(tmp_path, runtime), root, Process(("true",), cwd="/src/app", network="none"))
    assert runtime.calls() == []


# --- a run, with the stand-in runtime ---------------------------------------------------------------


def test_a_run_streams_output_answers_the_exit_code_and_removes_its_bundle(tmp_path: Path) -> None:
    runtime = FakeRuntime(tmp_path / "rt", stdout="out\n", stderr="err\n", exit_code=3)
    output: list[bytes] = []
    result = run(executor(tmp_path, runtime), rootfs(tmp_path), Process(("make",), user="app", network="none"),
                 output=output)
    assert result.exit_code == 3  # a failing process is a result, not an error
    assert sorted(b"".join(output).splitlines()) == [b"err", b"out"]
    (call,) = runtime.calls()
    assert call[:3] == ["--root", str(tmp_path / "state" / "runtime"), "run"]
    assert os.listdir(tmp_path / "bundles") == []  # the bundle is gone
    (config,) = runtime.configs()
    assert config["process"]["user"] == {"uid": 1000, "gid": 1000, "additionalGids": [1000, 10]}  # type: ignore[index]
    assert config["root"]["path"] == str(tmp_path / "rootfs")  # type: ignore[index]


def test_the_working_directory_is_made_and_mount_points_the_runtime_made_are_removed(tmp_path: Path) -> None:
    root = rootfs(tmp_path)
    (root / "var").mkdir()
    os.utime(root / "var", ns=(1_000_000_000, 1_000_000_000))
    cache = tmp_path / "cache"
    cache.mkdir()
    runtime = FakeRuntime(tmp_path / "rt", writes={"/var/lib/built": "kept"})
    result = run(executor(tmp_path, runtime), root,
                 Process(("true",), cwd="/work/app", network="none"),
                 (Mount("/var/cache/apt", str(cache)), Mount("/var/lib/x", type="tmpfs")))
    assert (root / "work" / "app").is_dir()
    # every mount point the runtime had to create, and no directory that held something before;
    # /dev, /proc and /sys stay, as BuildKit leaves them
    assert result.stubs == ("dev/mqueue", "dev/pts", "dev/shm", "etc/hosts", "etc/resolv.conf",
                            "var/cache", "var/cache/apt", "var/lib", "var/lib/x")
    assert sorted(os.listdir(root)) == ["dev", "etc", "proc", "sys", "var", "work"]
    assert sorted(os.listdir(root / "etc")) == ["group", "passwd"]
    assert os.listdir(root / "var") == ["lib"]  # what the process wrote in a stub directory stays
    assert (root / "var" / "lib" / "built").read_text() == "kept"
    assert not (root / "var" / "cache").exists()


def test_the_container_gets_hosts_and_resolv_conf(tmp_path: Path) -> None:
    runtime = FakeRuntime(tmp_path / "rt")
    run(executor(tmp_path, runtime), rootfs(tmp_path),
        Process(("true",), network="none", hostname="builder", extra_hosts=("db=10.0.0.2",)))
    (config,) = runtime.configs()
    etc = {m["destination"]: m for m in config["mounts"] if m["destination"].startswith("/etc/")}  # type: ignore[attr-defined]
    assert set(etc) == {"/etc/hosts", "/etc/resolv.conf"}
    assert all("ro" in m["options"] for m in etc.values())


def test_a_cancelled_run_kills_and_deletes_its_container(tmp_path: Path) -> None:
    runtime = FakeRuntime(tmp_path / "rt", stdout="started\n", hang=True)
    ex = executor(tmp_path, runtime)
    root = rootfs(tmp_path)

    async def main() -> None:
        with anyio.CancelScope() as scope:
            def output(data: bytes) -> None:
                scope.cancel()  # another target failed: the build stops this step

            await ex.run(str(root), Process(("sleep",), network="none"), (), output)
        assert scope.cancelled_caught

    anyio.run(main)
    commands = runtime.commands()
    assert commands == ["run", "kill", "delete"]
    cid = runtime.calls()[0][-1]
    assert runtime.calls()[1][3:] == [cid, "KILL"] and runtime.calls()[2][3:] == ["--force", cid]
    assert os.listdir(tmp_path / "bundles") == []

