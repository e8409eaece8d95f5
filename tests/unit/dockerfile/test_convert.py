"""Dockerfile → graph: what each instruction contributes, checked on inline Dockerfiles."""

from __future__ import annotations

from bake.content.imageconfig import ImageConfig
from bake.dockerfile.config import StaticConfigs
from bake.dockerfile.convert import BuildInputs, Converted, convert, normalize_ref
from bake.graph.digest import digest
from bake.graph.ops import Copy, ExecOp, FileOp, MergeOp, Mkdir, Mkfile, SourceOp, Vertex
from bake.graph.state import image

AMD64, ARM64 = "linux/amd64", "linux/arm64"


def conv(text: str, platform: str = AMD64, **kw: object) -> Converted:
    resolver = kw.pop("resolver", StaticConfigs({}))
    return convert(text, BuildInputs(platform=platform, build_platform=AMD64, **kw), resolver)  # type: ignore[arg-type]


def vertices(v: Vertex | None) -> list[Vertex]:
    out: dict[str, Vertex] = {}

    def walk(x: Vertex) -> None:
        if digest(x) not in out:
            out[digest(x)] = x
            for i in x.inputs:
                walk(i)

    if v is not None:
        walk(v)
    return list(out.values())


def execs(c: Converted) -> list[ExecOp]:
    return [v.op for v in vertices(c.state.vertex) if isinstance(v.op, ExecOp)]


def test_image_names_are_normalized() -> None:
    assert normalize_ref("alpine") == "docker.io/library/alpine:latest"
    assert normalize_ref("user/app:1") == "docker.io/user/app:1"
    assert normalize_ref("localhost:5000/app") == "localhost:5000/app:latest"
    assert normalize_ref("ghcr.io/o/r@sha256:abc") == "ghcr.io/o/r@sha256:abc"


def test_arg_scoping_and_env_precedence() -> None:
    text = """\
ARG GLOBAL=g
FROM busybox
RUN echo "[$GLOBAL]"
ARG GLOBAL
ARG LOCAL=l
ENV LOCAL=from-env
RUN echo $GLOBAL $LOCAL
ARG TARGETARCH
LABEL arch=$TARGETARCH local=$LOCAL
"""
    c = conv(text, ARM64, build_args={"GLOBAL": "override"})
    first, second = sorted(execs(c), key=lambda e: len(e.env))
    path = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"  # every stage gets one, as BuildKit
    assert first.env == (path,)  # a global ARG is not visible before it is redeclared
    assert "GLOBAL=override" in second.env and "LOCAL=from-env" in second.env
    assert not any(e.startswith("LOCAL=l") for e in second.env)  # an ENV after the ARG wins
    assert dict(c.config.labels) == {"arch": "arm64", "local": "from-env"}
    assert c.config.env == (path, "LOCAL=from-env")  # ARGs never reach the image config


def test_workdir_user_and_config_instructions() -> None:
    text = """\
FROM busybox
WORKDIR /app
WORKDIR src
USER app:app
EXPOSE 80 443/udp
VOLUME /data
STOPSIGNAL SIGTERM
CMD echo hi
ENTRYPOINT ["/bin/app"]
HEALTHCHECK --interval=5s CMD true
ONBUILD RUN echo later
"""
    c = conv(text)
    cfg = c.config
    assert (cfg.workdir, cfg.user, cfg.exposed_ports, cfg.volumes, cfg.stop_signal) == (
        "/app/src", "app:app", ("80/tcp", "443/udp"), ("/data",), "SIGTERM")
    # ENTRYPOINT resets a base's CMD, not one set earlier in the stage (recorded from BuildKit v0.32.2)
    assert cfg.entrypoint == ("/bin/app",) and cfg.cmd == ("/bin/sh", "-c", "echo hi")
    with_base_cmd = conv("FROM busybox\nENTRYPOINT [\"/bin/app\"]\n",
                         resolver=StaticConfigs({"docker.io/library/busybox:latest": ImageConfig(cmd=("sh",))}))
    assert with_base_cmd.config.cmd is None
    assert cfg.onbuild == ("RUN echo later",)
    assert dict(cfg.healthcheck or ()) == {"Test": ("CMD-SHELL", "true"), "Interval": 5_000_000_000}  # ns, as Docker reads it
    mkdirs = [a for v in vertices(c.state.vertex) if isinstance(v.op, FileOp) for a in v.op.actions if isinstance(a, Mkdir)]
    assert [m.path for m in mkdirs] == ["/app/src", "/app"] or sorted(m.path for m in mkdirs) == ["/app", "/app/src"]
    assert [h.empty_layer for h in cfg.history] == [False, False, True, True, True, True, True, True, True]  # no ONBUILD entry


def test_run_forms_heredocs_and_mounts() -> None:
    text = """\
FROM busybox
WORKDIR /src
RUN ["echo", "exec"]
RUN <<EOF
echo script
EOF
RUN python3 <<PY
print(1)
PY
RUN --mount=type=cache,target=.cache --mount=type=secret,id=tok --mount=type=ssh --mount=type=tmpfs,target=/tmp \\
    --network=none make
"""
    c = conv(text)
    by_args = {e.args[-1] if e.args[0] != "echo" else "exec": e for e in execs(c)}
    assert by_args["exec"].args == ("echo", "exec")
    assert by_args["echo script\n"].args == ("/bin/sh", "-c", "echo script\n")
    assert by_args["python3 <<PY\nprint(1)\nPY\n"].args[:2] == ("/bin/sh", "-c")
    make = by_args["make"]
    assert make.network == "none" and make.cwd == "/src"
    root, cache, secret, ssh, tmpfs = make.mounts
    assert root.target == "/" and root.output
    assert (cache.type, cache.target, cache.cache_id, cache.sharing) == ("cache", "/src/.cache", "/src/.cache", "shared")
    assert (secret.type, secret.target, secret.secret_id, secret.mode) == ("secret", "/run/secrets/tok", "tok", 0o400)
    assert (ssh.type, ssh.target, ssh.secret_id) == ("ssh", "/run/buildkit/ssh_agent.0", "default")
    assert tmpfs.type == "tmpfs"


def test_copy_sources() -> None:
    text = """\
FROM busybox AS build
RUN make
FROM busybox
WORKDIR /app
COPY --from=build --chown=1:1 /out ./bin/
COPY --link . .
COPY <<EOF /etc/conf.txt
x=1
EOF
ADD https://example.com/a.tar.gz /opt/
ADD --keep-git-dir git@github.com:o/r.git /src
ADD local.tar.gz /x/
"""
    c = conv(text)
    vs = vertices(c.state.vertex)
    sources = {v.op.identifier for v in vs if isinstance(v.op, SourceOp)}
    assert sources == {"docker-image://docker.io/library/busybox:latest", "local://context",
                       "https://example.com/a.tar.gz", "git://github.com/o/r.git"}
    copies = [a for v in vs if isinstance(v.op, FileOp) for a in v.op.actions if isinstance(a, Copy)]
    from_build = next(a for a in copies if a.src == "/out")
    assert (from_build.dest, from_build.chown) == ("/app/bin/", "1:1")
    assert next(a for a in copies if a.src == "local.tar.gz").unpack
    assert any(isinstance(v.op, MergeOp) for v in vs)  # COPY --link
    files = [a for v in vs if isinstance(v.op, FileOp) for a in v.op.actions if isinstance(a, Mkfile)]
    assert [(f.path, f.data) for f in files] == [("/etc/conf.txt", b"x=1\n")]


def test_copy_heredocs_expand_variables_unless_the_delimiter_is_quoted() -> None:
    text = """\
FROM scratch
ARG NAME=world
ENV GREETING=hello
COPY <<EOF /a
$GREETING "${NAME}" \\$HOME '$NAME'
EOF
COPY <<'EOF' /b
$GREETING ${NAME}
EOF
"""
    files = [a for v in vertices(conv(text).state.vertex) if isinstance(v.op, FileOp)
             for a in v.op.actions if isinstance(a, Mkfile)]
    assert sorted((f.path, f.data) for f in files) == [
        ("/a", b"hello \"world\" $HOME 'world'\n"), ("/b", b"$GREETING ${NAME}\n")]


def test_base_image_config_and_onbuild_triggers() -> None:
    base = ImageConfig(env=("PATH=/usr/bin", "LANG=C"), workdir="/w", user="nobody",
                       onbuild=("RUN echo triggered", "RUN echo second"))
    resolver = StaticConfigs({"docker.io/library/runtime:1": base})
    c = conv("FROM runtime:1\nRUN echo body\n", resolver=resolver)
    assert resolver.calls == [("docker.io/library/runtime:1", AMD64)]
    runs = execs(c)
    assert [e.args[-1] for e in runs] == ["echo body", "echo second", "echo triggered"]  # walked from the end
    assert all(e.cwd == "/w" and e.user == "nobody" and "LANG=C" in e.env for e in runs)
    assert c.config.onbuild == () and c.config.env == ("PATH=/usr/bin", "LANG=C")


def test_named_contexts_replace_images_and_stages() -> None:
    ctx = image("docker.io/library/alpine:3.19", AMD64)
    c = conv("FROM base\nCOPY --from=tools /bin/x /x\n", named_contexts={"base": ctx, "tools": ctx})
    sources = {v.op.identifier for v in vertices(c.state.vertex) if isinstance(v.op, SourceOp)}
    assert sources == {"docker-image://docker.io/library/alpine:3.19"}


BUILDPLATFORM_STAGE = """\
FROM --platform=$BUILDPLATFORM busybox AS build
ARG TARGETARCH
RUN echo compile for $TARGETARCH
RUN echo shared tooling
FROM --platform=$BUILDPLATFORM busybox AS tools
RUN echo same everywhere
FROM busybox
COPY --from=build /out /out
COPY --from=tools /t /t
"""


def test_build_platform_stages_are_shared_between_platforms() -> None:
    amd, arm = conv(BUILDPLATFORM_STAGE, AMD64), conv(BUILDPLATFORM_STAGE, ARM64)
    assert digest(amd.stages[1].vertex) == digest(arm.stages[1].vertex)  # type: ignore[arg-type]
    assert digest(amd.stages[0].vertex) != digest(arm.stages[0].vertex)  # type: ignore[arg-type]
    assert digest(amd.state.vertex) != digest(arm.state.vertex)  # type: ignore[arg-type]


def test_an_arg_change_moves_only_its_stage_and_dependents() -> None:
    text = "FROM busybox AS a\nARG V=1\nRUN echo $V\nFROM busybox AS b\nRUN echo b\nFROM scratch\nCOPY --from=a /x /x\nCOPY --from=b /y /y\n"
    one, two = conv(text), conv(text, build_args={"V": "2"})
    assert digest(one.stages[1].vertex) == digest(two.stages[1].vertex)  # type: ignore[arg-type]
    assert digest(one.stages[0].vertex) != digest(two.stages[0].vertex)  # type: ignore[arg-type]
    assert digest(one.state.vertex) != digest(two.state.vertex)  # type: ignore[arg-type]


def test_whitespace_and_comments_change_nothing() -> None:
    text = "FROM busybox\nRUN echo hi\nCOPY . /src\n"
    noisy = "# comment\n\nFROM   busybox\n\n# another\nRUN echo hi\n   COPY . /src\n"
    assert digest(conv(text).state.vertex) == digest(conv(noisy).state.vertex)  # type: ignore[arg-type]


def test_no_cache_marks_vertices() -> None:
    text = "FROM busybox AS a\nRUN echo a\nFROM busybox\nRUN echo b\n"
    c = conv(text, no_cache_filter=("a",), target=None)
    flags = {e.name.split(" RUN ")[-1]: e.ignore_cache for e in vertices(c.state.vertex) if isinstance(e.op, ExecOp)}
    assert flags == {"echo b": False}
    c2 = conv("FROM busybox\nRUN echo x\n", no_cache=True)
    assert all(v.ignore_cache for v in vertices(c2.state.vertex) if isinstance(v.op, ExecOp))


def test_bake_exec_options_and_targetstage() -> None:
    text = "FROM busybox AS app\nARG TARGETSTAGE\nRUN echo $TARGETSTAGE\n"
    c = conv(text, target="app", extra_hosts=("db=10.0.0.2",), shm_size=64 * 1024 * 1024, ulimits=("nofile=1024:2048",),
             network="host")
    (run,) = execs(c)
    assert (run.extra_hosts, run.shm_size, run.ulimits, run.network) == (("db=10.0.0.2",), 64 * 1024 * 1024, ("nofile=1024:2048",), "host")
    assert "TARGETSTAGE=app" in run.env


def test_proxy_args_and_source_date_epoch_reach_run_undeclared() -> None:
    c = conv("FROM busybox\nRUN env\n", build_args={"HTTP_PROXY": "http://proxy:3128", "SOURCE_DATE_EPOCH": "0", "OTHER": "x"})
    (run,) = execs(c)
    assert "HTTP_PROXY=http://proxy:3128" in run.env and "SOURCE_DATE_EPOCH=0" in run.env
    assert not any(e.startswith("OTHER=") for e in run.env)


def test_copy_from_a_scratch_stage_copies_from_an_empty_tree() -> None:
    c = conv("FROM scratch AS empty\nFROM busybox\nCOPY --from=empty / /x\n")
    copy_op = c.state.vertex.op  # type: ignore[union-attr]
    assert isinstance(copy_op, FileOp) and isinstance(copy_op.actions[0], Copy)
    source = c.state.vertex.inputs[copy_op.actions[0].source]  # type: ignore[union-attr]
    assert source.op == FileOp(None, ()) and source.inputs == ()


def test_a_mount_without_target_is_at_the_working_directory() -> None:
    """Recorded on BuildKit v0.32.2: `RUN --mount=type=bind ls` in WORKDIR /src lists the context
    there; cache and tmpfs mounts without a target land on the working directory too."""
    from bake.graph.ops import ExecOp

    c = conv("FROM busybox\nWORKDIR /src\nRUN --mount=type=bind --mount=type=cache,id=c ls\n")
    run = next(v for v in vertices(c.state.vertex) if isinstance(v.op, ExecOp))
    targets = {m.type: m.target for m in run.op.mounts if not m.output}
    assert targets["bind"] == "/src" and targets["cache"] == "/src"
