"""Tar bytes as Go's archive/tar writes them (BuildKit's differ and exporters), so the same files
give the same bytes as BuildKit: device fields hold zeros, a long ASCII path is split into the
ustar prefix rather than a PAX record, and the archive ends right after its two zero blocks.
Used for layers (``bake.worker.differ``, whose bytes are diff ids) and image layouts
(``bake.exporter.ocilayout``)."""

from __future__ import annotations

import contextlib
import tarfile
from collections.abc import Callable, Iterator, Mapping
from typing import BinaryIO, cast


@contextlib.contextmanager
def go_tar(out: BinaryIO) -> Iterator[tarfile.TarFile]:
    """A tar stream to ``out`` whose entries should be ``GoTarInfo``s."""
    sink = _Unpadded(out)
    with tarfile.open(fileobj=cast(BinaryIO, sink), mode="w|", format=tarfile.PAX_FORMAT, tarinfo=GoTarInfo) as tar:
        setattr(tar.fileobj, "close", _end(tar, sink, tar.fileobj.close))  # noqa: B010 (a method, replaced)
        yield tar


class GoTarInfo(tarfile.TarInfo):
    """A header as Go's archive/tar (BuildKit's differ) writes it: device number fields hold
    zeros for every entry, where Python leaves them empty — so equal trees give equal diff ids."""

    @staticmethod
    def _create_header(info: dict[str, object], format: int, encoding: str, errors: str) -> bytes:
        buf = tarfile.TarInfo._create_header(info, format, encoding, errors)  # type: ignore[attr-defined]
        if buf[329:345] != b"\0" * 16:
            return buf  # type: ignore[no-any-return]
        buf = buf[:329] + b"0000000\0" * 2 + buf[345:]
        checksum = 256 + sum(buf[:148]) + sum(buf[156:512])  # the checksum field counts as spaces
        return buf[:148] + b"%06o\0 " % checksum + buf[156:]  # type: ignore[no-any-return]

    def create_pax_header(self, info: Mapping[str, str | int | bytes | Mapping[str, str]], encoding: str) -> bytes:
        # Go keeps a long ASCII path in the ustar header when it splits into prefix and name (at
        # the last "/" that fits); Python would write a PAX record for it
        split = _ustar_split(str(info["name"]))
        if split is not None:
            info = {**info, "prefix": split[0], "name": split[1]}
        return super().create_pax_header(info, encoding)


def _ustar_split(path: str) -> tuple[str, str] | None:
    """``(prefix, name)`` as Go's archive/tar splits a path longer than the 100-byte name field
    (the prefix field holds 155), or None when it keeps the path whole or needs a PAX record."""
    if len(path) <= 100 or not path.isascii():
        return None
    end = 156 if len(path) > 156 else len(path) - 1 if path.endswith("/") else len(path)
    i = path.rfind("/", 0, end)
    if i <= 0 or len(path) - i - 1 > 100 or len(path) - i - 1 == 0 or i > 155:
        return None
    return path[:i], path[i + 1:]


class _Unpadded:
    """Passes writes through until ``limit``: Python pads a tar to a 10 KiB record, Go (BuildKit)
    ends it right after the two zero blocks; the same files must make the same bytes (diff ids)."""

    def __init__(self, out: BinaryIO) -> None:
        self.out = out
        self.written = 0
        self.limit: int | None = None

    def write(self, data: bytes) -> int:
        if self.limit is not None:
            data = data[: max(0, self.limit - self.written)]
        self.out.write(data)
        self.written += len(data)
        return len(data)


def _end(tar: tarfile.TarFile, sink: _Unpadded, close: Callable[[], object]) -> Callable[[], None]:
    def closing() -> None:
        sink.limit = tar.offset  # by now the end-of-archive blocks are counted, the record padding not
        close()

    return closing
