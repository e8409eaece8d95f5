"""Why a step ran, from key records alone: fake vertices whose identity is their definition."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from bake.solver.explain import Change, Explainer, Facts, Reason, Record, decode, diff, encode
from bake.solver.keyplan import KeyPlan
from bake.solver.protocols import Salt


@dataclass(frozen=True)
class V:
    name: str
    inputs: Sequence[V] = ()
    location: str = ""
    ignore_cache: bool = False
    definition: str = ""  # what the identity covers beyond the name (an env, a platform)
    salt: str = ""
    files: Facts = ()
    replaces: frozenset[int] = field(default_factory=frozenset)


def identity(v: V) -> str:
    return f"{v.name}|{v.definition}|" + ",".join(identity(i) for i in v.inputs)


def keyed(root: V) -> KeyPlan[V]:
    plan: KeyPlan[V] = KeyPlan(identity)
    plan.offline(root, lambda v: Salt(v.salt, v.replaces))  # None for a step that runs regardless of the cache
    return plan


def facts(v: V) -> Facts:
    return v.files


def record(root: V, target_facts: Facts = ()) -> Record:
    e: Explainer[V] = Explainer(keyed(root), facts, {})
    e.add("app", root, target_facts)
    return e.record("app", root)


def why(before: V | None, after: V, step: str, before_facts: Facts = (), after_facts: Facts = ()) -> Reason:
    previous = {"app": record(before, before_facts)} if before is not None else {}
    e: Explainer[V] = Explainer(keyed(after), facts, previous)
    e.add("app", after, after_facts)
    ident = next(i for i, v in e.vertices.items() if v.name == step)
    return e.why(ident, ["app"])


def chain(cmd: str = "RUN make", env: str = "", files: Facts = (("file:a", "1"), ("file:b", "2")),
          base: str = "sha256:1") -> V:
    image = V("FROM busybox", location="Dockerfile:1", salt=base)
    context = V("context", salt="ctx" + str(files), files=files)
    copy = V("COPY . /src", (image, context), "Dockerfile:2", salt="sum" + str(files), files=files,
             replaces=frozenset({1}))
    run = V(cmd, (copy,), "Dockerfile:3", definition=env)
    return V("RUN test", (run,), "Dockerfile:4", definition=env)


def test_a_first_build_says_so() -> None:
    assert why(None, chain(), "RUN make").kind == "first"


def test_an_edited_context_file_is_named_at_the_copy_and_its_dependents_point_to_it() -> None:
    after = chain(files=(("file:a", "1"), ("file:b", "3")))
    r = why(chain(), after, "COPY . /src")
    assert (r.kind, r.via_parent, r.change) == ("salt", False, Change(modified=(("file:b", "2", "3"),)))
    for step in ("RUN make", "RUN test"):
        r = why(chain(), after, step)
        assert (r.kind, r.via_parent, r.name, r.change.modified) == ("salt", True, "COPY . /src",
                                                                     (("file:b", "2", "3"),))


def test_a_changed_instruction_is_named_with_its_old_and_new_text() -> None:
    r = why(chain(), chain(cmd="RUN make all"), "RUN make all")
    assert (r.kind, r.location, r.old, r.new) == ("instruction", "Dockerfile:3", "RUN make", "RUN make all")
    r = why(chain(), chain(cmd="RUN make all"), "RUN test")
    assert (r.kind, r.via_parent, r.location) == ("instruction", True, "Dockerfile:3")


def test_a_changed_build_arg_is_named_at_the_first_step_it_changes() -> None:
    r = why(chain(), chain(env="V=2"), "RUN make", (("arg:V", "1"),), (("arg:V", "2"),))
    assert (r.kind, r.via_parent, r.change) == ("definition", False, Change(modified=(("arg:V", "1", "2"),)))
    assert why(chain(), chain(env="V=2"), "RUN test", (("arg:V", "1"),), (("arg:V", "2"),)).via_parent


def test_a_base_image_that_resolves_elsewhere_is_the_cause() -> None:
    r = why(chain(), chain(base="sha256:2"), "RUN test")
    assert (r.kind, r.name, r.old, r.new, r.via_parent) == ("salt", "FROM busybox", "sha256:1", "sha256:2", True)


def test_no_cache_and_a_result_gone_from_the_cache() -> None:
    nocache = V("RUN x", ignore_cache=True)
    assert why(nocache, nocache, "RUN x").kind == "no-cache"
    assert why(chain(), chain(), "RUN make").kind == "gone"


def test_records_survive_their_json_form() -> None:
    r = record(chain(), (("arg:V", "1"), ("platform", "linux/amd64")))
    assert decode(encode(r)) == r


def test_diff() -> None:
    assert diff((("a", "1"), ("b", "2")), (("b", "3"), ("c", "4"))) == Change(("c",), ("a",), (("b", "2", "3"),))


def two_copies(a: str = "1", b: str = "1", base: str = "sha256:1") -> V:
    """FROM; COPY a; COPY b; RUN — the RUN depends on both copies (a diamond over the base)."""
    image = V("FROM busybox", location="Dockerfile:1", salt=base)
    copy_a = V("COPY a /a", (image,), "Dockerfile:2", salt="a" + a, files=(("file:a", a),))
    copy_b = V("COPY b /b", (image,), "Dockerfile:3", salt="b" + b, files=(("file:b", b),))
    return V("RUN make", (copy_a, copy_b), "Dockerfile:4")


def test_every_cause_is_named_when_two_inputs_changed() -> None:
    r = why(two_copies(), two_copies(a="2", b="2"), "RUN make")
    assert [(c.name, c.via_parent, c.change.modified) for c in r.causes()] == [
        ("COPY a /a", True, (("file:a", "1", "2"),)), ("COPY b /b", True, (("file:b", "1", "2"),))]


def test_a_step_reached_twice_is_named_once() -> None:
    r = why(two_copies(), two_copies(base="sha256:2"), "RUN make")
    assert [(c.kind, c.name, c.via_parent) for c in r.causes()] == [("salt", "FROM busybox", True)]


def test_a_step_that_changed_itself_and_whose_parent_changed_names_both() -> None:
    r = why(two_copies(), two_copies(a="2", base="sha256:2"), "COPY a /a")
    assert [(c.name, c.via_parent) for c in r.causes()] == [("COPY a /a", False), ("FROM busybox", True)]
