"""Named contexts and Dockerfile locations as the plan converts them offline (``bake --plan``,
``--call``): an image context is a FROM of that image, a URL or git context is a source of its
own, a local directory is a local source; ``cwd://`` finds the Dockerfile beside the bake file.
Base images never recorded under the root count as empty configs: no registry is asked."""

from __future__ import annotations

from pathlib import Path

from bake.app import Request, call, graph_roots, resolve
from bake.graph.ops import SourceOp, Vertex


def sources(v: Vertex | None) -> set[str]:
    seen: set[str] = set()
    todo = [v] if v is not None else []
    while todo:
        x = todo.pop()
        if isinstance(x.op, SourceOp):
            seen.add(x.op.identifier)
        todo.extend(x.inputs)
    return seen


def project(tmp_path: Path, hcl: str, root: bool = True) -> Request:
    (tmp_path / "Dockerfile.app").write_text(
        "FROM base\nCOPY --from=src /README /r\nCOPY --from=files /f /f\nCOPY --from=web /x /x\n")
    (tmp_path / "files").mkdir(exist_ok=True)
    (tmp_path / "files/f").write_text("f")
    (tmp_path / "docker-bake.hcl").write_text(hcl)
    if root:
        (tmp_path / "root/snapshots").mkdir(parents=True, exist_ok=True)  # a root builds have used: its records are read
    return Request(targets=("app",), cwd=str(tmp_path), env={"BAKE_ROOT": str(tmp_path / "root")})


HCL = """
target "app" {
  context = "sub"
  dockerfile = "cwd://Dockerfile.app"
  contexts = {
    base = "docker-image://busybox:1.36"
    src = "https://github.com/o/r.git#main"
    files = "./files"
    web = "git@github.com:o/site.git"
  }
}
"""


def test_each_kind_of_named_context_becomes_its_own_source(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    for with_root in (False, True):  # no root yet, or one with records (none of these images): the same graph
        (root,) = graph_roots(resolve(project(tmp_path, HCL, with_root)))
        found = sources(root.vertex)
        assert "docker-image://docker.io/library/busybox:1.36" in found
        assert {"https://github.com/o/r.git#main", "git@github.com:o/site.git"} <= found
        assert any(s.startswith("local://") for s in found)


def test_check_is_silent_about_what_an_unrecorded_base_might_define(tmp_path: Path) -> None:
    hcl = 'target "app" {\n  dockerfile-inline = "FROM %s\\nENV A=$UNDEFINED_HERE\\n"\n}\n'
    text, failed = call(resolve(project(tmp_path, hcl % "busybox")), "check")
    assert (text, failed) == ("Check complete, no warnings found.\n", False)  # its ENV is unknown: no guess
    text, failed = call(resolve(project(tmp_path, hcl % "scratch")), "check")
    assert failed and "UndefinedVar" in text and "'$UNDEFINED_HERE'" in text
