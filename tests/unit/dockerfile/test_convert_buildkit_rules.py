"""Rules found by the image-config differential against BuildKit v0.32.2 on public Dockerfiles
(tests/fixtures/buildkit/configs/corpus.json): each as the reference answered."""

from __future__ import annotations

from bake.content import oci
from bake.dockerfile.config import StaticConfigs
from bake.dockerfile.convert import BuildInputs, convert
from bake.exporter.image import config_document
from bake.graph.ops import Copy, FileOp, Mkdir
from tests.unit.dockerfile.test_convert import vertices

AMD64 = "linux/amd64"


def conv(text: str):  # type: ignore[no-untyped-def]
    return convert(text, BuildInputs(platform=AMD64, build_platform=AMD64), StaticConfigs({}))


def test_an_absolute_workdir_is_kept_as_written_and_workdir_root_makes_no_layer() -> None:
    c = conv("FROM busybox\nWORKDIR /usr/src/app/\nWORKDIR ../lib//x\nWORKDIR /\n")
    assert [h.created_by for h in c.config.history] == ["WORKDIR /usr/src/app/", "WORKDIR /usr/src/lib/x", "WORKDIR /"]
    assert [h.empty_layer for h in c.config.history] == [False, False, True]
    mkdirs = sorted(a.path for v in vertices(c.state.vertex) if isinstance(v.op, FileOp)
                    for a in v.op.actions if isinstance(a, Mkdir))
    assert mkdirs == ["/usr/src/app/", "/usr/src/lib/x"]


def test_an_empty_cmd_is_left_out_of_the_config() -> None:
    c = conv('FROM busybox\nCMD []\nENTRYPOINT ["/app"]\n')
    body = config_document(c.config, oci.Platform("linux", "amd64"), (), 0).body
    assert "Cmd" not in body["config"] and body["config"]["Entrypoint"] == ["/app"]


def test_dot_as_a_copy_destination_is_a_directory_even_where_none_exists() -> None:
    c = conv("FROM busybox\nWORKDIR /app\nCOPY --link a .\n")
    (copy,) = [a for v in vertices(c.state.vertex) if isinstance(v.op, FileOp)
               for a in v.op.actions if isinstance(a, Copy)]
    assert copy.dest == "/app/"  # /app/a, not a file named /app
