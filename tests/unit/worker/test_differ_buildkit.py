"""Layer bytes as BuildKit's overlay differ and Go's archive/tar make them, where Python's tarfile
would differ (recorded from BuildKit v0.32.2: a corpus Dockerfile's `COPY . .` with paths over 100
bytes, and `COPY . /code` over a file an earlier COPY wrote the same)."""

from __future__ import annotations

import io
import os
import tarfile
from pathlib import Path

from bake.worker.differ import layer_bytes


def names(layer: bytes) -> list[str]:
    with tarfile.open(fileobj=io.BytesIO(layer)) as t:
        return [m.name for m in t.getmembers()]


def test_a_long_path_is_split_into_the_ustar_prefix_as_go_does(tmp_path: Path) -> None:
    deep = "go/src/github.com/containerd/containerd/contrib/Dockerfile.test.d/cri-in-userns"
    (tmp_path / deep).mkdir(parents=True)
    (tmp_path / deep / "etc_containerd_config.toml").write_text("x\n")
    layer = layer_bytes(str(tmp_path), source_date_epoch=0)
    headers = [layer[i:i + 512] for i in range(0, len(layer), 512)]
    assert not any(h.startswith(b"././@PaxHeader") for h in headers)  # no PAX record for the path
    (file_header,) = [h for h in headers if h.startswith(b"etc_containerd_config.toml\0")]
    assert file_header[345:345 + len(deep) + 1] == deep.encode() + b"\0"  # the prefix field, up to the last "/"
    assert f"{deep}/etc_containerd_config.toml" in names(layer)


def test_a_path_that_cannot_be_split_keeps_its_pax_record(tmp_path: Path) -> None:
    name = "n" * 120  # one component longer than the name field
    (tmp_path / name).write_text("x\n")
    layer = layer_bytes(str(tmp_path), source_date_epoch=0)
    assert layer.startswith(b"././@PaxHeader") and names(layer) == [name]


def test_a_file_written_again_as_it_was_is_not_in_the_layer(tmp_path: Path) -> None:
    lower, upper = tmp_path / "lower", tmp_path / "upper"
    for d in (lower, upper):
        (d / "code").mkdir(parents=True)
        (d / "code" / "same.txt").write_text("r\n")
        (d / "code" / "tarred").write_text("a\n")
    (upper / "code" / "new").write_text("n\n")
    stamp = 1_700_000_000_123_456_789
    for d in (lower, upper):
        os.utime(d / "code" / "same.txt", ns=(stamp, stamp))  # same nanoseconds: the same file
        os.utime(d / "code" / "tarred", ns=(1_700_000_000_000_000_000,) * 2)  # whole seconds: bytes decide
    (upper / "code" / "tarred").write_text("b\n")
    os.utime(upper / "code" / "tarred", ns=(1_700_000_000_000_000_000,) * 2)
    assert names(layer_bytes(str(upper), lower=str(lower))) == ["code", "code/new", "code/tarred"]
    (upper / "code" / "tarred").write_text("a\n")
    os.utime(upper / "code" / "tarred", ns=(1_700_000_000_000_000_000,) * 2)
    assert names(layer_bytes(str(upper), lower=str(lower))) == ["code", "code/new"]
