"""The RUN seccomp profile: the distribution's allowlist under our capabilities, with the escape
hatches (namespaces, mounts, keyring, BPF…) always refused."""

from __future__ import annotations

import json
from pathlib import Path

from bake.worker.executor import CAPABILITIES, resolv_conf
from bake.worker.seccomp import DENIED, profile

CLONE_NEWUSER = 0x10000000


def rules_for(p: dict[str, object], name: str) -> list[dict[str, object]]:
    return [r for r in p["syscalls"] if name in r["names"]]  # type: ignore[attr-defined, index]


def test_without_a_distribution_profile_everything_but_the_escapes_is_allowed(tmp_path: Path) -> None:
    p = profile(CAPABILITIES, "x86_64", paths=(str(tmp_path / "missing.json"),))
    assert p["defaultAction"] == "SCMP_ACT_ALLOW" and "SCMP_ARCH_X86_64" in p["architectures"]  # type: ignore[operator]
    assert {"unshare", "setns", "mount", "keyctl", "bpf", "io_uring_setup"} <= DENIED
    assert rules_for(p, "unshare") == [{"names": sorted(DENIED), "action": "SCMP_ACT_ERRNO", "errnoRet": 1}]
    clone = rules_for(p, "clone")
    assert {"index": 0, "value": CLONE_NEWUSER, "valueTwo": CLONE_NEWUSER, "op": "SCMP_CMP_MASKED_EQ"} in [
        r["args"][0] for r in clone]  # type: ignore[index]
    assert all(r["action"] == "SCMP_ACT_ERRNO" for r in clone)
    assert rules_for(p, "clone3") == [{"names": ["clone3"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38}]


def test_the_distribution_allowlist_is_applied_for_our_capabilities_and_arch(tmp_path: Path) -> None:
    doc = {"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [
        {"names": ["read", "write", "unshare", "mount", "clone"], "action": "SCMP_ACT_ALLOW"},
        {"names": ["arch_prctl"], "action": "SCMP_ACT_ALLOW", "includes": {"arches": ["amd64"]}},
        {"names": ["arm_only"], "action": "SCMP_ACT_ALLOW", "includes": {"arches": ["arm64"]}},
        {"names": ["chroot"], "action": "SCMP_ACT_ALLOW", "includes": {"caps": ["CAP_SYS_CHROOT"]}},
        {"names": ["admin_only"], "action": "SCMP_ACT_ALLOW", "includes": {"caps": ["CAP_SYS_ADMIN"]}},
        {"names": ["admin_only"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1, "excludes": {"caps": ["CAP_SYS_ADMIN"]}},
        {"names": ["personality"], "action": "SCMP_ACT_ALLOW",
         "args": [{"index": 0, "value": 8, "valueTwo": 0, "op": "SCMP_CMP_EQ"}]},
    ]}
    path = tmp_path / "seccomp.json"
    path.write_text(json.dumps(doc))
    p = profile(CAPABILITIES, "x86_64", paths=(str(path),))
    assert p["defaultAction"] == "SCMP_ACT_ERRNO" and p["defaultErrnoRet"] == 38
    allowed = {n for r in p["syscalls"] if r["action"] == "SCMP_ACT_ALLOW" and "args" not in r  # type: ignore[attr-defined]
               for n in r["names"]}  # type: ignore[index]
    assert allowed == {"read", "write", "arch_prctl", "chroot"}  # unshare and mount stay refused
    assert rules_for(p, "admin_only") == [{"names": ["admin_only"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1}]
    assert rules_for(p, "personality")[0]["args"] == [{"index": 0, "value": 8, "valueTwo": 0, "op": "SCMP_CMP_EQ"}]
    assert rules_for(p, "clone") == [{"names": ["clone"], "action": "SCMP_ACT_ALLOW", "args": [
        {"index": 0, "value": 0x7E020080, "valueTwo": 0, "op": "SCMP_CMP_MASKED_EQ"}]}]  # no namespace flag


def test_resolv_conf_never_points_at_the_hosts_loopback() -> None:
    host = "search corp.example\nnameserver 127.0.0.53\noptions edns0\n"
    assert resolv_conf(host, slirp=True) == "search corp.example\noptions edns0\nnameserver 10.0.2.3\n"
    assert resolv_conf(host, slirp=False).endswith("nameserver 8.8.8.8\nnameserver 8.8.4.4\n")
    assert resolv_conf("nameserver 192.0.2.53\n", slirp=False) == "nameserver 192.0.2.53\n"


def test_amd64_filters_its_native_and_32_bit_abis_but_not_x32(tmp_path: Path) -> None:
    # x32 would add ~9 ms of runc's filter compilation to every RUN for an ABI no image uses;
    # without it in the list, x32 calls are refused
    p = profile(CAPABILITIES, "x86_64", paths=(str(tmp_path / "missing.json"),))
    assert p["architectures"] == ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86"]
