"""Whole builds of hostile Dockerfiles, base layers and archives (real runc, overlayfs): no link a
build plants ever takes a COPY, ADD or heredoc write onto the host. A canary directory outside
the state root must come out of every build unchanged."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from bake.app import Request, resolve
from bake.app.build import BuildOptions, build
from bake.content.atomic import NoSpaceError
from bake.errors import StepError
from tests.unit.worker.test_hostile_trees import tar_of

HCL = 'target "default" {\n  output = ["type=local,dest=out"]\n}\n'


@pytest.fixture
def canary(tmp_path: Path) -> Path:
    d = tmp_path / "hostdir"
    d.mkdir()
    (d / "victim").write_text("precious")
    os.chmod(d / "victim", 0o600)
    return d


def intact(canary: Path) -> bool:
    return (sorted(p.name for p in canary.iterdir()) == ["victim"] and (canary / "victim").read_text() == "precious"
            and (canary / "victim").stat().st_mode & 0o777 == 0o600)


def build_project(tmp_path: Path, dockerfile: str, files: dict[str, bytes] | None = None) -> Path:
    d = tmp_path / "project"
    d.mkdir(parents=True)
    (d / "docker-bake.hcl").write_text(HCL)
    (d / "Dockerfile").write_text(dockerfile)
    for name, data in (files or {}).items():
        (d / name).parent.mkdir(parents=True, exist_ok=True)
        (d / name).write_bytes(data)
    build(resolve(Request(targets=(), cwd=str(d))), BuildOptions(root=str(tmp_path / "root")), lambda e: None)
    return d


def test_copy_into_a_directory_link_a_run_planted_fails_inside(busybox_image: str, tmp_path: Path, canary: Path) -> None:
    for chmod in ("", "--chmod=777 "):
        with pytest.raises(StepError, match="cannot copy to non-directory: /app/sub"):
            build_project(tmp_path / ("chmod" if chmod else "plain"), f"""
FROM {busybox_image} AS planted
RUN mkdir -p /app && ln -s {canary} /app/sub
FROM planted
COPY {chmod}tree/ /app/
""", {"tree/sub/victim": b"overwritten"})
    assert intact(canary)


def test_copy_from_a_stage_through_its_links(busybox_image: str, tmp_path: Path, canary: Path) -> None:
    with pytest.raises(StepError, match="not found"):
        build_project(tmp_path, f"""
FROM {busybox_image} AS s
RUN ln -s {canary} /out
FROM {busybox_image}
COPY --from=s /out/victim /stolen
""")
    assert intact(canary)


def test_a_heredoc_written_to_a_planted_link_lands_in_the_rootfs(busybox_image: str, tmp_path: Path,
                                                                 canary: Path) -> None:
    d = build_project(tmp_path, f"""
FROM {busybox_image}
RUN ln -s {canary}/victim /v && mkdir -p {canary}
COPY <<EOF /v
pwned
EOF
RUN cat /v > /seen
""")
    assert intact(canary)
    assert (d / "out" / "seen").read_text() == "pwned\n"  # the container sees the link followed inside it


def test_add_of_hostile_archives(busybox_image: str, tmp_path: Path, canary: Path) -> None:
    evil = tar_of(("sym", "lnk", f"{canary}/victim"), ("file", "lnk", "pwned"),
                     ("file", "planted/victim", "pwned"), ("file", "../../escape", "pwned"))
    d = build_project(tmp_path, f"""
FROM {busybox_image}
RUN ln -s {canary} /planted
ADD local.tar /
RUN cat /lnk /planted/victim /escape > /seen
""", {"local.tar": evil})
    assert intact(canary)
    assert (d / "out" / "seen").read_text() == "pwnedpwnedpwned"


def test_a_base_layer_link_is_never_merged_into(busybox_image: str, tmp_path: Path, canary: Path) -> None:
    base = tar_of(("sym", "app/conf", str(canary)))
    with pytest.raises(StepError, match="cannot copy to non-directory: /app/conf"):
        build_project(tmp_path, """
FROM scratch AS base
ADD base.tar /
FROM base
COPY ctx/ /app/
""", {"base.tar": base, "ctx/conf/victim": b"overwritten"})
    assert intact(canary)


@pytest.mark.root
def test_a_run_that_fills_the_disk_says_so(busybox_image: str, tmp_path: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=24m", "tmpfs", str(root)], check=True)
    try:
        with pytest.raises(StepError, match=r"no space left on device: the filesystem of .* is full") as info:
            build_project(tmp_path, f"""
FROM {busybox_image}
RUN dd if=/dev/zero of=/big bs=1M count=64 2>/dev/null
""")
        assert str(root) in info.value.reason and info.value.exit_code == 1
    finally:
        subprocess.run(["umount", "-l", str(root)], check=True)


@pytest.mark.parametrize(("size", "where"), [(40, "the copy of the build context"), (10, "the files of copy big to /b")])
@pytest.mark.root
def test_a_copy_that_fills_the_disk_says_so(busybox_image: str, tmp_path: Path, size: int, where: str) -> None:
    root = tmp_path / "root"
    root.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=24m", "tmpfs", str(root)], check=True)
    try:
        with pytest.raises(StepError, match=f"no space left on device while writing {where} \\({root}") as info:
            build_project(tmp_path, f"FROM {busybox_image}\nCOPY big /a\nCOPY big /b\nCOPY big /c\n",
                          {"big": os.urandom(size << 20)})
        assert isinstance(info.value.__cause__, NoSpaceError)
    finally:
        subprocess.run(["umount", "-l", str(root)], check=True)
