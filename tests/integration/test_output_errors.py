"""File outputs as buildx writes them (a missing destination directory is created) and, when the
disk is full, one located error naming the output — with nothing half-written left behind."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from bake.content.atomic import NoSpaceError
from bake.errors import BakeError
from tests.integration.test_build import project, run

pytestmark = pytest.mark.root  # runc, overlayfs and loop mounts

DOCKERFILE = "FROM {base}\nRUN head -c 3000000 /dev/urandom > /big\n"


@pytest.fixture
def tiny(tmp_path: Path) -> Iterator[Path]:
    """A 1 MiB tmpfs: too small for any image of this test."""
    mnt = tmp_path / "tiny"
    mnt.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mnt)], check=True)
    try:
        yield mnt
    finally:
        subprocess.run(["umount", str(mnt)], check=True)


@pytest.mark.parametrize("kind", ["oci", "docker", "tar"])
def test_a_missing_destination_directory_is_created(kind: str, busybox_image: str, tmp_path: Path) -> None:
    d = project(tmp_path, f'target "default" {{\n  tags = ["app:1"]\n  output = ["type={kind},dest=new/deeper/x.tar"]\n}}\n',
                f"FROM {busybox_image}\nRUN echo hi > /hi\n")
    run(d, tmp_path / "root")
    assert (d / "new/deeper/x.tar").stat().st_size > 0
    assert os.listdir(d / "new/deeper") == ["x.tar"]
    if kind != "tar":
        subprocess.run(["skopeo", "inspect", f"{'oci' if kind == 'oci' else 'docker'}-archive:{d}/new/deeper/x.tar"],
                       check=True, capture_output=True)


@pytest.mark.parametrize("output", ["type=oci,dest={mnt}/x.tar", "type=docker,dest={mnt}/x.tar",
                                    "type=tar,dest={mnt}/sub/x.tar", "type=oci,dest={mnt}/layout,tar=false"])
def test_a_full_disk_is_one_error_naming_the_output(output: str, busybox_image: str, tmp_path: Path,
                                                   tiny: Path) -> None:
    d = project(tmp_path, f'target "default" {{\n  tags = ["app:1"]\n  output = ["{output.format(mnt=tiny)}"]\n}}\n',
                DOCKERFILE.format(base=busybox_image))
    with pytest.raises(NoSpaceError) as info:
        run(d, tmp_path / "root")
    message = str(info.value)
    assert "no space left on device" in message and str(tiny) in message and "output type=" in message
    assert "\n" not in message
    leftovers = [str(p.relative_to(tiny)) for p in tiny.rglob("*") if p.is_file()]
    assert leftovers == []  # no temp file, no half tar, no staged blobs


def test_a_full_disk_under_the_root_is_an_error_too(busybox_image: str, tmp_path: Path, tiny: Path) -> None:
    """The root itself on a disk too small for the image: a BakeError (the RUN's own ENOSPC is the
    executor's to report), never a traceback."""
    d = project(tmp_path, 'target "default" {\n  output = ["type=oci,dest=x.tar"]\n}\n',
                DOCKERFILE.format(base=busybox_image))
    with pytest.raises(BakeError) as info:
        run(d, tiny / "root")
    assert "no space left on device" in str(info.value) and str(tiny) in str(info.value)
    assert not (d / "x.tar").exists()


@pytest.mark.parametrize("kind", ["oci", "tar"])
def test_a_destination_that_cannot_be_a_file_is_named(kind: str, tmp_path: Path) -> None:
    d = project(tmp_path, f'target "default" {{\n  output = ["type={kind},dest=sub"]\n}}\n', "FROM scratch\nCOPY Dockerfile /\n")
    (d / "sub").mkdir()
    with pytest.raises(BakeError, match=r"dest=sub: .*sub is a directory; this output writes a file there"):
        run(d, tmp_path / "root")
    (tmp_path / "2").mkdir()
    d2 = project(tmp_path / "2", f'target "default" {{\n  output = ["type={kind},dest=Dockerfile/x.tar"]\n}}\n',
                 "FROM scratch\nCOPY Dockerfile /\n")
    with pytest.raises(BakeError, match=r"Dockerfile is a file, so nothing can be written below it"):
        run(d2, tmp_path / "root")
