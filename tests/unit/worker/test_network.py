"""The build's network namespace, with stand-ins for ``unshare`` and ``slirp4netns`` on PATH: made
once on first use, slirp4netns told to keep off the host's loopback and tied to bake by its exit fd,
taken down by ``close``; each way it can fail is a NetworkError saying why. And the executor: a RUN
with the default network joins it and asks slirp's DNS forwarder."""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import anyio
import pytest

from bake.worker.errors import NetworkError
from bake.worker.execution import Process
from bake.worker.executor import RuncExecutor
from bake.worker.network import BuildNetwork
from tests.unit.worker.runtimefake import FakeRuntime

SLIRP = '''#!{python}
import os, sys, json
here = os.path.dirname(os.path.abspath(__file__))
with open(os.path.join(here, "slirp-calls.jsonl"), "a") as f:
    f.write(json.dumps(sys.argv[1:]) + "\\n")
if {fail!r}:
    sys.stderr.write({fail!r})
    sys.exit(1)
opts = dict(a[2:].split("=", 1) for a in sys.argv[1:] if a.startswith("--") and "=" in a)
os.write(int(opts["ready-fd"]), b"1")
os.read(int(opts["exit-fd"]), 1)  # until bake closes its end
with open(os.path.join(here, "slirp-exited"), "w") as f:
    f.write("yes")
'''

UNSHARE = '''#!/bin/sh
echo "$@" >> "$(dirname "$0")/unshare-calls"
{body}
'''


def fake_tools(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, slirp_fails: str = "", unshare: str = "exit 0",
               slirp: bool = True) -> Path:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    if slirp:
        (bin_dir / "slirp4netns").write_text(SLIRP.format(python=sys.executable, fail=slirp_fails))
    (bin_dir / "unshare").write_text(UNSHARE.format(body=unshare))
    for tool in bin_dir.iterdir():
        os.chmod(tool, 0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:/usr/bin:/bin")
    return bin_dir


def exits(bin_dir: Path) -> bool:
    """Whether the stand-in slirp4netns saw its exit fd close (it says so, then exits) within 30 s."""
    for _ in range(300):
        if (bin_dir / "slirp-exited").exists():
            return True
        time.sleep(0.1)
    return False


pytestmark = pytest.mark.skipif(not os.access("/dev/net/tun", os.R_OK | os.W_OK), reason="needs /dev/net/tun")


def test_the_namespace_is_made_once_and_taken_down_by_close(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bin_dir = fake_tools(tmp_path, monkeypatch)
    net = BuildNetwork(str(tmp_path))
    path = net.path()
    assert path == str(tmp_path / "netns") and net.path() == path
    assert (bin_dir / "unshare-calls").read_text() == f"--net={path} true\n"
    (args,) = [json.loads(line) for line in (bin_dir / "slirp-calls.jsonl").read_text().splitlines()]
    assert "--disable-host-loopback" in args and "--configure" in args and args[-2:] == [path, "tap0"]
    assert not (bin_dir / "slirp-exited").exists()  # running while the build runs
    net.close()
    assert not os.path.exists(path)
    exited = bin_dir / "slirp-exited"
    for _ in range(500):  # close() does not wait for slirp4netns's exit: it is reaped beside the build
        if exited.exists():
            break
        time.sleep(0.01)
    assert exited.read_text() == "yes"
    net.close()  # twice is harmless


def test_slirp4netns_that_cannot_configure_the_network_is_reported(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    fake_tools(tmp_path, monkeypatch, slirp_fails="cannot open /dev/net/tun")
    with pytest.raises(NetworkError, match="could not configure the build's network: cannot open /dev/net/tun"):
        BuildNetwork(str(tmp_path)).path()
    assert not (tmp_path / "netns").exists()


def test_a_namespace_that_cannot_be_made_is_reported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bin_dir = fake_tools(tmp_path, monkeypatch, unshare="echo 'unshare: Operation not permitted' >&2; exit 1")
    with pytest.raises(NetworkError, match="cannot create the build's network namespace: unshare: Operation not"):
        BuildNetwork(str(tmp_path)).path()
    assert not (tmp_path / "netns").exists() and not (bin_dir / "slirp-calls.jsonl").exists()


def test_without_slirp4netns_the_error_says_what_to_install(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake_tools(tmp_path, monkeypatch, slirp=False)
    monkeypatch.setenv("PATH", str(tmp_path / "bin"))
    with pytest.raises(NetworkError, match=r"apt-get install slirp4netns\); or build with network=none"):
        BuildNetwork(str(tmp_path)).path()


def test_a_run_with_the_default_network_joins_the_builds_namespace(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    bin_dir = fake_tools(tmp_path, monkeypatch)
    runtime = FakeRuntime(tmp_path / "rt")
    (tmp_path / "rootfs").mkdir()
    (tmp_path / "bundles").mkdir()
    ex = RuncExecutor(str(tmp_path / "state"), runtime.path, bundles=str(tmp_path / "bundles"))
    for _ in range(2):
        anyio.run(ex.run, str(tmp_path / "rootfs"), Process(("true",)))
    ex.close()
    netns = str(tmp_path / "bundles" / "netns")
    for config in runtime.configs():
        assert {"type": "network", "path": netns} in config["linux"]["namespaces"]  # type: ignore[index]
    assert (bin_dir / "unshare-calls").read_text().count("\n") == 1  # one namespace for the build
    assert not os.path.exists(netns) and exits(bin_dir)

