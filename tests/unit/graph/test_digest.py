"""Vertex digests: content addressed, metadata-free, and frozen by golden values."""

from __future__ import annotations

from bake.graph.digest import digest
from bake.graph.ops import Copy, Mkdir, Mount, Vertex
from bake.graph.state import image, local, merge, scratch

AMD64 = "linux/amd64"


def build(version: str = "1", name: str = "build") -> Vertex:
    base = image("docker.io/library/busybox:1.36", AMD64)
    src = local("context", include=("src/",))
    deps = base.with_cwd("/app").run(("/bin/sh", "-c", "echo deps"), name="deps")
    built = deps.with_env("VERSION", version).run(
        ("/bin/sh", "-c", "make"),
        mounts=((Mount("/root/.cache", type="cache", cache_id="make", sharing="locked"), None),),
        name=name,
    )
    out = scratch(AMD64).file(((Copy(0, "/app/out", "/out"), built), (Mkdir("/etc/app", make_parents=True), None)))
    assert out.vertex is not None and src.vertex is not None
    return out.vertex


def test_golden_digests_freeze_the_encoding() -> None:
    assert digest(image("docker.io/library/busybox:1.36", AMD64).vertex) == (  # type: ignore[arg-type]
        "sha256:62b42c9a2333f3431555fe5d4589389128c7f4510279dca2d9abe0d5451f0abb"
    )
    assert digest(build()) == "sha256:801b7ccdc754655bdb4429e7197ba145dc9f43dcaffc6d904cd2e29cd65c3cd3"


def test_identical_graphs_have_identical_digests_and_names_do_not_count() -> None:
    assert digest(build()) == digest(build())
    assert digest(build(name="something else")) == digest(build())


def test_a_change_moves_only_the_vertex_and_its_dependents() -> None:
    a, b = build("1"), build("2")
    assert digest(a) != digest(b)
    deps_a = a.inputs[0].inputs[0]
    deps_b = b.inputs[0].inputs[0]
    assert digest(deps_a) == digest(deps_b)  # the shared step upstream of the change is the same vertex


def test_platform_is_part_of_the_digest() -> None:
    arm = image("docker.io/library/busybox:1.36", "linux/arm64").vertex
    amd = image("docker.io/library/busybox:1.36", AMD64).vertex
    assert arm is not None and amd is not None and digest(arm) != digest(amd)


def test_merge_of_one_state_is_that_state() -> None:
    s = image("alpine", AMD64)
    assert merge((scratch(), s)).vertex is s.vertex
    m = merge((s, image("busybox", AMD64)))
    assert m.vertex is not None and type(m.vertex.op).__name__ == "MergeOp" and len(m.vertex.inputs) == 2
