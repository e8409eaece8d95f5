"""How ``--explain`` words a cause (bake/app/explain.py's ``render``)."""

from __future__ import annotations

from bake._record import replace
from bake.app.explain import render
from bake.solver.explain import Change, Reason


def test_context_files_are_named_the_first_few_and_counted() -> None:
    change = Change(tuple(f"file:new{n}" for n in range(7)), ("file:gone",), (("file:a.txt", "1", "2"),))
    assert render(Reason("salt", "x", "COPY . /src", "Dockerfile:2", "s1", "s2", change)) == (
        "context files changed: modified a.txt; added new0, new1, new2, new3, new4 and 2 more; removed gone (9 paths)")


def test_a_parent_cause_points_to_the_root_step() -> None:
    r = Reason("definition", "x", "RUN make", "Dockerfile:3", change=Change(modified=(("arg:V", "", "2"),)),
               via_parent=True)
    assert render(r) == 'parent step ran: RUN make (Dockerfile:3): build arg V changed: "" → 2'


def test_instruction_image_platform_and_first_build() -> None:
    assert render(Reason("instruction", "x", "RUN b", "Dockerfile:3", "RUN a", "RUN b")) == (
        "instruction changed at Dockerfile:3: RUN a → RUN b")
    assert render(Reason("salt", "x", "FROM busybox", old="sha256:1", new="sha256:2")) == (
        "the image now resolves to sha256:2 (was sha256:1)")
    assert render(Reason("definition", "x", change=Change(modified=(("platform", "linux/amd64", "linux/arm64"),)))) == (
        "platform changed: linux/amd64 → linux/arm64")
    assert render(Reason("first", "x")) == "first build of this target on this root"


def test_several_causes_are_joined_first_one_first() -> None:
    a = Reason("salt", "a", "COPY a /a", "Dockerfile:2", "s1", "s2", Change(modified=(("file:a", "1", "2"),)),
               via_parent=True)
    b = Reason("salt", "b", "COPY b /b", "Dockerfile:3", "s1", "s2", Change(modified=(("file:b", "1", "2"),)),
               via_parent=True)
    assert render(replace(a, also=(b,))) == (
        "parent step ran: COPY a /a (Dockerfile:2): context files changed: modified a (1 path); and "
        "parent step ran: COPY b /b (Dockerfile:3): context files changed: modified b (1 path)")
