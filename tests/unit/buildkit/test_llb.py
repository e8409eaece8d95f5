"""bake's graph → LLB. Golden digests freeze the encoding: a change here changes what BuildKit
sees (and its cache keys) and must be on purpose. The graph below was solved for real on BuildKit
v0.32.2 (tests/integration/test_remote_builder.py builds the same shapes)."""

from __future__ import annotations

import hashlib

import pytest

from bake.buildkit import NotSupportedRemote
from bake.buildkit.llb import marshal
from bake.buildkit.proto import llb_pb2 as pb
from bake.graph.ops import Copy, Mkfile, Mount
from bake.graph.state import image, local, merge, scratch

BUSYBOX = "127.0.0.1:5000/library/busybox:latest"


def _graph():  # type: ignore[no-untyped-def]
    base = image(BUSYBOX, "linux/amd64", name="busybox")
    ran = base.run(("sh", "-c", "echo hi > /x"), name="RUN echo",
                   mounts=((Mount("/cache", "cache", cache_id="c1", sharing="locked"), None),))
    ctx = local("ctx", exclude=("*.pyc",))
    copied = ran.file(((Copy(0, "a.txt", "/app/", chown="1000:app", chmod="755"), ctx),
                       (Mkfile("/app/f", b"data", 0o600), None)), name="COPY")
    out = scratch("linux/amd64").file(((Copy(0, "/x", "/"), copied),), name="final")
    return merge((out, scratch("linux/amd64").file(((Mkfile("/y", b"y"), None),), name="layer")))


def test_golden_digests() -> None:
    m = marshal(_graph().vertex, "SESSION")
    ops = [pb.Op.FromString(b) for b in m.definition.ops]
    digests = ["sha256:" + hashlib.sha256(b).hexdigest() for b in m.definition.ops]
    assert [o.WhichOneof("op") for o in ops] == ["file", "source", "source", "exec", "file", "file", "merge", None]
    assert digests[-1] == GOLDEN_TERMINAL
    assert digests[:-1] == GOLDEN


def test_structure() -> None:
    m = marshal(_graph().vertex, "SESSION")
    ops = {("sha256:" + hashlib.sha256(b).hexdigest()): pb.Op.FromString(b) for b in m.definition.ops}
    terminal = pb.Op.FromString(m.definition.ops[-1])
    assert terminal.WhichOneof("op") is None and len(terminal.inputs) == 1
    ex = next(o for o in ops.values() if o.WhichOneof("op") == "exec")
    assert [(mt.dest, mt.input, mt.output, mt.mountType) for mt in ex.exec.mounts] == [
        ("/", 0, 0, pb.BIND), ("/cache", -1, -1, pb.CACHE)]
    assert ex.exec.mounts[1].cacheOpt.sharing == pb.LOCKED
    assert ex.exec.meta.removeMountStubsRecursive  # as BuildKit's client: /run of /run/secrets/x goes too
    assert (ex.platform.OS, ex.platform.Architecture) == ("linux", "amd64")
    src = [o.source for o in ops.values() if o.WhichOneof("op") == "source"]
    local_src = next(s for s in src if s.identifier.startswith("local://"))
    assert local_src.attrs["local.session"] == "SESSION"
    assert [ld.excludes for ld in m.locals] == [("*.pyc",)]
    copy_op = next(o for o in ops.values() if o.WhichOneof("op") == "file" and len(o.file.actions) == 2)
    first, second = copy_op.file.actions
    assert (first.input, first.secondaryInput, first.output) == (0, 1, -1)
    assert (second.input, second.secondaryInput, second.output) == (2, -1, 0)  # the first action's result
    assert first.copy.src == "/a.txt" and first.copy.mode == 0o755
    assert first.copy.owner.user.byID == 1000 and first.copy.owner.group.byName.name == "app"
    scratch_copy = next(o for o in ops.values() if o.WhichOneof("op") == "file" and o.file.actions[0].input == -1
                        and o.file.actions[0].WhichOneof("action") == "copy")
    assert not scratch_copy.HasField("platform")  # file ops are not platform specific
    names = {md.description["llb.customname"] for md in m.definition.metadata.values()}
    assert {"busybox", "RUN echo", "COPY", "final", "layer"} <= names


def test_identical_steps_of_two_targets_are_one_llb_vertex() -> None:
    a = marshal(image(BUSYBOX, "linux/amd64").run(("true",), name="a").vertex)
    b = marshal(image(BUSYBOX, "linux/amd64").run(("true",), name="b").vertex)
    assert a.definition.ops == b.definition.ops  # names live in metadata only


def test_secret_and_ssh_mounts_ask_the_session_by_id() -> None:
    mounts = ((Mount("/run/secrets/tok", "secret", secret_id="tok", required=True, readonly=True, mode=0o400), None),
              (Mount("", "secret", secret_id="env1", env="TOKEN"), None),
              (Mount("/f", "secret", secret_id="both", env="BOTH", uid=1000, mode=0o440), None),
              (Mount("/run/buildkit/ssh_agent.0", "ssh", secret_id="default", readonly=True), None))
    m = marshal(image(BUSYBOX).run(("true",), mounts=mounts).vertex)
    ex = next(pb.Op.FromString(b) for b in m.definition.ops if pb.Op.FromString(b).WhichOneof("op") == "exec").exec
    got = [(mt.dest, mt.mountType, mt.input, mt.output) for mt in ex.mounts]
    assert got == [("/", pb.BIND, 0, 0), ("/run/secrets/tok", pb.SECRET, -1, -1), ("/f", pb.SECRET, -1, -1),
                   ("/run/buildkit/ssh_agent.0", pb.SSH, -1, -1)]
    tok, both, ssh = ex.mounts[1].secretOpt, ex.mounts[2].secretOpt, ex.mounts[3].SSHOpt
    assert (tok.ID, tok.mode, tok.optional) == ("tok", 0o400, False)
    assert (both.ID, both.uid, both.mode, both.optional) == ("both", 1000, 0o440, True)
    assert (ssh.ID, ssh.mode, ssh.optional) == ("default", 0o600, True)
    assert [(e.ID, e.name, e.optional) for e in ex.secretenv] == [("env1", "TOKEN", True), ("both", "BOTH", True)]


def test_unsupported_parts_are_refused() -> None:
    from bake.graph.ops import SourceOp, Vertex

    with pytest.raises(NotSupportedRemote, match="ftp sources"):
        marshal(Vertex(SourceOp("ftp://example.com/f")))
    with pytest.raises(NotSupportedRemote, match="git source option depth=1"):
        marshal(Vertex(SourceOp("git://example.com/r.git", (("depth", "1"),))))


def _source(v):  # type: ignore[no-untyped-def]
    m = marshal(v)
    return next(pb.Op.FromString(b) for b in m.definition.ops if pb.Op.FromString(b).WhichOneof("op") == "source").source


def test_git_and_url_sources_as_buildkit_names_them() -> None:
    from bake.dockerfile.convert_copy import git_identifier
    from bake.graph.ops import SourceOp, Vertex

    git = _source(Vertex(SourceOp(*git_identifier("https://github.com/o/r.git#v1", True))))
    assert git.identifier == "git://github.com/o/r.git#v1"
    assert dict(git.attrs) == {"git.fullurl": "https://github.com/o/r.git", "git.keepgitdir": "true",
                               "git.authtokensecret": "GIT_AUTH_TOKEN", "git.authheadersecret": "GIT_AUTH_HEADER"}
    ssh = _source(Vertex(SourceOp(*git_identifier("git@github.com:o/r.git#main", False))))
    assert ssh.identifier == "git://github.com/o/r.git#main"
    assert dict(ssh.attrs)["git.mountsshsock"] == "default"
    assert dict(ssh.attrs)["git.fullurl"] == "git@github.com:o/r.git"
    url = _source(Vertex(SourceOp("https://example.com/f.tgz", (("checksum", "sha256:ab"),))))
    assert (url.identifier, dict(url.attrs)) == ("https://example.com/f.tgz", {"http.checksum": "sha256:ab",
                                                                      "http.filename": "f.tgz"})


GOLDEN = [
    "sha256:aad370679669eaf5c5914687fe866725cecc3a8bf4a5b537b1ff5bc48de38cd0",
    "sha256:c50c36d50bf98c261649444f0c097450966497e885872b8b183a99e82c717962",
    "sha256:481dcb5aa0aaccc84d762bbfe22fae52dcbfd55717567fe21ba50c97991153d7",
    "sha256:71562ef6db65de487dac43ca263a5b564377cae42f7bded8faac05052f7fff8d",
    "sha256:c0481458016198493022bb380579577cf5383f6a4a92dc85410d6d0840ba0ad2",
    "sha256:52d93803b4b662ca30b15d086df9f3fda24a84b03ed9921b9c4bb1af29042ec8",
    "sha256:84ebe88ce12019587be6e8aff177bf6b0486914299a81476d9c06aa6e8b9dae7",
]
GOLDEN_TERMINAL = "sha256:fd609459da54f8c8557df08f5c2346cd5d9c3bcf08b32fc4912ac28704c5fac0"


def test_a_cache_mount_with_owner_and_mode_mounts_a_made_directory_as_buildkits_frontend_does() -> None:
    m = marshal(image(BUSYBOX, "linux/amd64").run(("true",), mounts=(
        (Mount("/c", "cache", cache_id="c", uid=1000, gid=1001, mode=0o700), None),)).vertex)
    ops = {("sha256:" + hashlib.sha256(b).hexdigest()): pb.Op.FromString(b) for b in m.definition.ops}
    ex = next(o for o in ops.values() if o.WhichOneof("op") == "exec")
    cache = ex.exec.mounts[1]
    assert (cache.mountType, cache.selector, cache.cacheOpt.ID) == (pb.CACHE, "/cache", "c")
    base = ops[ex.inputs[cache.input].digest]
    (mkdir,) = base.file.actions
    assert (mkdir.input, mkdir.mkdir.path, mkdir.mkdir.mode) == (-1, "/cache", 0o700)
    assert (mkdir.mkdir.owner.user.byID, mkdir.mkdir.owner.group.byID) == (1000, 1001)
    names = {md.description["llb.customname"] for md in m.definition.metadata.values()}
    assert "[internal] setting cache mount permissions" in names


def test_pull_resolves_images_at_their_registry() -> None:
    v = image(BUSYBOX, "linux/amd64").run(("true",)).vertex
    plain = marshal(v)
    pulled = marshal(v, pull=True)
    sources = [pb.Op.FromString(b).source for b in pulled.definition.ops if pb.Op.FromString(b).WhichOneof("op") == "source"]
    assert [dict(s.attrs) for s in sources] == [{"image.resolvemode": "pull"}]
    assert plain.definition.ops != pulled.definition.ops  # another source, so another cache key below it


def test_copy_parents_as_buildkits_frontend_sends_it() -> None:
    ctx = local("ctx")
    m = marshal(scratch("linux/amd64").file((
        (Copy(0, "a/b/one.txt", "/x/", parents=True), ctx),
        (Copy(0, "./a/./b/one.txt", "/y/", parents=True), ctx),
        (Copy(0, "c/*.txt", "/z/", parents=True), ctx)), name="COPY --parents").vertex)
    op = next(pb.Op.FromString(b) for b in m.definition.ops if pb.Op.FromString(b).WhichOneof("op") == "file")
    got = [(a.copy.src, list(a.copy.include_patterns), list(a.copy.required_paths), a.copy.dirCopyContents)
           for a in op.file.actions]
    assert got == [("/", ["a/b/one.txt"], ["/a/b/one.txt"], True),
                   ("/a", ["b/one.txt"], ["/a/b/one.txt"], True),
                   ("/", ["c/*.txt"], [], True)]  # a wildcard: nothing required
