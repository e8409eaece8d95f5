"""The plan's numbers: requested vs unique vertices, owners of shared ones, the critical path."""

from __future__ import annotations

from bake.graph.analysis import Root, analyze, render_text
from bake.graph.digest import digest
from bake.graph.state import image


def test_counts_sharing_and_critical_path() -> None:
    base = image("docker.io/library/busybox:1", "linux/amd64").run(("echo", "base"), name="base")
    a = base.run(("echo", "a"), name="a").run(("echo", "a2"), name="a2")
    b = base.run(("echo", "b"), name="b")
    analysis = analyze([Root("a", "linux/amd64", a.vertex), Root("b", "linux/amd64", b.vertex)])
    assert analysis.requested == 4 + 3
    assert len(analysis.vertices) == 5
    assert base.vertex is not None
    assert analysis.shared == {
        digest(base.vertex): ("a (linux/amd64)", "b (linux/amd64)"),
        digest(base.vertex.inputs[0]): ("a (linux/amd64)", "b (linux/amd64)"),
    }
    assert [analysis.vertices[d].name for d in analysis.critical_path] == [
        "docker.io/library/busybox:1", "base", "a", "a2"]
    text = render_text(analysis)
    assert text.splitlines()[0] == "Plan: 2 build(s), 7 vertices requested, 5 unique (2 deduplicated)"
    assert render_text(analysis) == text  # deterministic
