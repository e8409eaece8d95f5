"""File outputs from plain directories standing for mounted results, cache exports over a real
content store and a counting pusher, and how an output's failure is worded."""

from __future__ import annotations

import errno
import json
import tarfile
from collections.abc import Collection, Sequence
from pathlib import Path

import pytest

from bake.content import oci
from bake.content.atomic import NoSpaceError
from bake.content.cachedoc import CACHE_CONFIG
from bake.content.store import ContentStore, CorruptContent
from bake.exporter.cache import CacheExport, export_caches
from bake.exporter.errors import ExportError, output_errors, restoring
from bake.exporter.job import ExportJob
from bake.exporter.table import exporter
from bake.model import CacheSpec, OutputSpec


def tree(root: Path, files: dict[str, str]) -> str:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return str(root)


def test_a_local_output_of_several_platforms_gets_a_directory_each(tmp_path: Path) -> None:
    amd, arm = tree(tmp_path / "amd", {"bin/app": "x86"}), tree(tmp_path / "arm", {"bin/app": "arm"})
    job = ExportJob("app", (), str(tmp_path), trees=[("linux_amd64", amd), ("linux_arm64", arm)])
    spec = OutputSpec("local", "out")
    assert exporter("local").export(spec, job) == ["type=local,dest=out"]
    assert (tmp_path / "out/linux_amd64/bin/app").read_text() == "x86"
    assert (tmp_path / "out/linux_arm64/bin/app").read_text() == "arm"
    assert exporter("local").describe(spec) == "directory out" and exporter("local").kind == "files"


def test_a_tar_output_and_an_empty_result(tmp_path: Path) -> None:
    job = ExportJob("app", (), str(tmp_path), trees=[("", tree(tmp_path / "t", {"a": "1"}))])
    assert exporter("tar").export(OutputSpec("tar", str(tmp_path / "o.tar")), job) == [f"type=tar,dest={tmp_path}/o.tar"]
    with tarfile.open(tmp_path / "o.tar") as tar:
        assert tar.getnames() == ["a"]
    empty = ExportJob("app", (), str(tmp_path), trees=[("", None)])
    exporter("local").export(OutputSpec("local", "empty"), empty)
    assert list((tmp_path / "empty").iterdir()) == []
    assert exporter("tar").describe(OutputSpec("tar", "o.tar")) == "tarball o.tar"


def test_files_are_not_written_when_not_publishing_and_cacheonly_writes_nothing(tmp_path: Path) -> None:
    job = ExportJob("app", (), str(tmp_path), publish=False, trees=[("", tree(tmp_path / "t", {"a": "1"}))])
    assert exporter("local").export(OutputSpec("local", "out"), job) == []
    assert exporter("cacheonly").export(OutputSpec("cacheonly"), job) == []
    assert not (tmp_path / "out").exists()
    assert (exporter("cacheonly").kind, exporter("cacheonly").describe(OutputSpec("cacheonly"))) == ("none", "cache only")


def test_a_file_where_the_directory_goes_is_named(tmp_path: Path) -> None:
    (tmp_path / "out").write_text("in the way")
    job = ExportJob("app", (), str(tmp_path), trees=[("linux_amd64", tree(tmp_path / "t", {"a": "1"}))])
    with pytest.raises(ExportError, match="target app: output type=local,dest=out: "):
        exporter("local").export(OutputSpec("local", "out"), job)


def test_job_paths_are_relative_to_its_directory() -> None:
    job = ExportJob("app", (), "/work")
    assert (job.path("out"), job.path("/abs"), job.path("-"), job.path("")) == ("/work/out", "/abs", "-", "")


class Layer:
    def __init__(self, store: ContentStore, text: str) -> None:
        data = text.encode()
        self.descriptor = oci.Descriptor(oci.LAYER_GZIP, store.write(data), len(data))
        self.diff_id = "sha256:" + "0" * 63 + str(len(text) % 10)


class CountingPusher:
    def __init__(self) -> None:
        self.calls: list[list[tuple[oci.Descriptor, list[str]]]] = []

    def __call__(self, images: Sequence[tuple[oci.Descriptor, Sequence[str]]], insecure: Collection[str] = ()) -> None:
        self.calls.append([(top, list(names)) for top, names in images])


def test_cache_exports_write_a_layout_and_push_every_ref_at_once(tmp_path: Path) -> None:
    store = ContentStore(str(tmp_path / "content"))
    base, top = Layer(store, "base"), Layer(store, "top layer")
    entries = {"sha256:k1": [base], "sha256:k2": [base, top]}
    pusher = CountingPusher()
    done = export_caches([CacheExport("app", CacheSpec("local", dest="cache", tag="t1"), entries),
                          CacheExport("app", CacheSpec("registry", ref="r/c:1"), entries),
                          CacheExport("lib", CacheSpec("registry", ref="r/c:2"), {"sha256:k1": [base]})],
                         store, str(tmp_path), pusher=pusher)
    assert done == ["cache type=local,dest=cache (2 keys)", "cache type=registry,ref=r/c:1 (2 keys)",
                    "cache type=registry,ref=r/c:2 (1 keys)"]
    index = json.loads((tmp_path / "cache/index.json").read_text())
    (m,) = index["manifests"]
    assert m["annotations"]["org.opencontainers.image.ref.name"] == "t1"
    manifest = json.loads(store.read(m["digest"]))
    config = json.loads(store.read(manifest["config"]["digest"]))
    assert manifest["config"]["mediaType"] == CACHE_CONFIG and len(manifest["layers"]) == 2  # base once
    assert config["keys"] == {"sha256:k1": [0], "sha256:k2": [0, 1]}
    ((first, second),) = pusher.calls  # one call: one client, one loop for every ref
    assert (first[1], second[1]) == (["r/c:1"], ["r/c:2"]) and first[0].digest == m["digest"]


def test_a_cache_push_without_a_pusher_is_an_error(tmp_path: Path) -> None:
    store = ContentStore(str(tmp_path / "content"))
    with pytest.raises(ExportError, match=r"cache-to type=registry \(r/c\): this command has no registry client"):
        export_caches([CacheExport("app", CacheSpec("registry", ref="r/c"), {})], store, str(tmp_path))


@pytest.mark.parametrize(("error", "message"), [
    (IsADirectoryError(errno.EISDIR, "Is a directory", "/x/out.tar.1.2.3.tmp"),
     "w: /x/out.tar is a directory; this output writes a file there"),
    (PermissionError(errno.EACCES, "Permission denied", "/x/out"), "w: Permission denied (/x/out)"),
    (OSError(errno.EIO, "Input/output error"), "w: Input/output error"),
])
def test_an_output_that_cannot_be_written_is_one_named_error(error: OSError, message: str) -> None:
    with pytest.raises(ExportError) as info, output_errors("w"):
        raise error
    assert info.value.message == message


def test_a_full_disk_names_the_output(tmp_path: Path) -> None:
    with pytest.raises(NoSpaceError) as info, output_errors("target app: output type=tar"):
        raise NoSpaceError("/x/out.tar")
    assert "target app: output type=tar" in str(info.value)


def test_a_file_in_the_way_of_a_directory_is_named(tmp_path: Path) -> None:
    (tmp_path / "f").write_text("")
    with pytest.raises(ExportError, match="is a file, so nothing can be written below it"), output_errors("w"):
        raise NotADirectoryError(errno.ENOTDIR, "Not a directory", str(tmp_path / "f"))


def test_restoring_repairs_each_damaged_blob_once(tmp_path: Path) -> None:
    writes: list[int] = []
    repaired: list[str] = []

    def write() -> None:
        writes.append(1)
        if len(writes) < 3:
            raise CorruptContent(f"sha256:{len(writes)}", "/p")

    def repair(err: CorruptContent) -> bool:
        repaired.append(err.digest)
        return True

    restoring(repair, "out", write)
    assert (len(writes), repaired) == (3, ["sha256:1", "sha256:2"])

    def always() -> None:
        raise CorruptContent("sha256:same", "/p")

    with pytest.raises(ExportError, match=r"out: blob sha256:same is corrupt.*it could not be made again"):
        restoring(lambda err: True, "out", always)
    with pytest.raises(ExportError, match="could not be made again"):
        restoring(None, "out", always)
