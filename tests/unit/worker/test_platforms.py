"""Native platforms need nothing; foreign ones need an enabled, fix-binary QEMU binfmt handler."""

from __future__ import annotations

from pathlib import Path

import pytest

from bake.worker.errors import PlatformError
from bake.worker.platforms import emulator

QEMU_AARCH64 = """enabled
interpreter /usr/libexec/qemu-binfmt/aarch64-binfmt-P
flags: POCF
offset 0
magic 7f454c460201010000000000000000000200b700
mask ffffffffffffff00fffffffffffffffffeffffff
"""


@pytest.mark.parametrize("platform", ["linux/amd64", "linux/386", "linux/amd64/v2", "linux"])
def test_native_and_compatible_platforms_need_no_emulator(platform: str, tmp_path: Path) -> None:
    assert emulator(platform, str(tmp_path), host="amd64") is None


def test_arm_runs_natively_on_arm64(tmp_path: Path) -> None:
    assert emulator("linux/arm/v7", str(tmp_path), host="arm64") is None


def test_registered_handler_is_used(tmp_path: Path) -> None:
    (tmp_path / "qemu-aarch64").write_text(QEMU_AARCH64)
    assert emulator("linux/arm64", str(tmp_path), host="amd64") == "/usr/libexec/qemu-binfmt/aarch64-binfmt-P"


def test_missing_handler_names_the_platform_and_the_fix(tmp_path: Path) -> None:
    with pytest.raises(PlatformError, match=r"RUN for linux/arm64 needs emulation.*qemu-user-static") as e:
        emulator("linux/arm64", str(tmp_path), host="amd64")
    assert e.value.platform == "linux/arm64"


@pytest.mark.parametrize(("text", "message"), [
    (QEMU_AARCH64.replace("enabled", "disabled"), "is disabled"),
    (QEMU_AARCH64.replace("POCF", "POC"), "lacks the F"),
])
def test_unusable_handlers(text: str, message: str, tmp_path: Path) -> None:
    (tmp_path / "qemu-aarch64").write_text(text)
    with pytest.raises(PlatformError, match=message):
        emulator("linux/arm64", str(tmp_path), host="amd64")


@pytest.mark.parametrize(("platform", "message"), [
    ("windows/amd64", "only linux"), ("linux/z80", "unknown architecture 'z80'"),
])
def test_unsupported_platforms(platform: str, message: str, tmp_path: Path) -> None:
    with pytest.raises(PlatformError, match=message):
        emulator(platform, str(tmp_path), host="amd64")
