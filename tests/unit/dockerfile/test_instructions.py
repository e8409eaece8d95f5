"""Typed instructions: every instruction, its flags and forms, and the errors BuildKit gives."""

from __future__ import annotations

import pytest

from bake.dockerfile import instructions as ins
from bake.dockerfile.parser import parse
from bake.errors import DockerfileError


def one(text: str) -> ins.Instruction:
    doc = parse("FROM scratch\n" + text)
    return ins.instructions(doc)[1]


def test_from() -> None:
    doc = parse("FROM --platform=$BUILDPLATFORM golang:1.22 AS Build\nFROM scratch\n")
    first, second = ins.instructions(doc)
    assert isinstance(first, ins.From) and (first.image, first.name, first.platform) == ("golang:1.22", "build", "$BUILDPLATFORM")
    assert isinstance(second, ins.From) and (second.name, second.platform) == (None, None)
    assert first.loc == ins.Location("Dockerfile", 1, 1)


def test_arg_env_label() -> None:
    arg = one("ARG A B=2 C=\"x y\"\n")
    assert isinstance(arg, ins.Arg) and arg.pairs == (("A", None), ("B", "2"), ("C", '"x y"'))
    env = one('ENV A=1 B="two words" C=${X:-d}\n')
    assert isinstance(env, ins.Env) and env.pairs == (("A", "1"), ("B", '"two words"'), ("C", "${X:-d}"))
    legacy = one("ENV OLD legacy value here\n")
    assert isinstance(legacy, ins.Env) and legacy.pairs == (("OLD", "legacy value here"),)
    label = one('LABEL "c d"=e version=1\n')
    assert isinstance(label, ins.Label) and label.pairs == (('"c d"', "e"), ("version", "1"))


def test_run_with_mounts_network_security() -> None:
    run = one("RUN --mount=type=cache,target=/root/.cache,id=pip,sharing=locked,mode=0755,uid=1000 "
              "--mount=type=secret,id=tok,env=TOKEN,required --mount=type=bind,from=build,source=/out,target=/in,rw "
              "--mount=type=tmpfs,target=/tmp,size=64m --mount=type=ssh --network=none --security=insecure make\n")
    assert isinstance(run, ins.Run)
    cache, secret, bind, tmpfs, ssh = run.mounts
    assert (cache.type, cache.target, cache.id, cache.sharing, cache.mode, cache.uid) == ("cache", "/root/.cache", "pip", "locked", 0o755, 1000)
    assert (secret.type, secret.id, secret.env, secret.required) == ("secret", "tok", "TOKEN", True)
    assert (bind.from_, bind.source, bind.target, bind.readonly) == ("build", "/out", "/in", False)
    assert (tmpfs.type, tmpfs.size) == ("tmpfs", 64 * 1024 * 1024)
    assert ssh.type == "ssh"
    assert (run.network, run.security, run.command) == ("none", "insecure", ins.Command(("make",), shell=True))


def test_cmd_entrypoint_shell() -> None:
    assert one('CMD ["a", "b"]\n') == ins.Cmd(ins.Location("Dockerfile", 2, 2), ins.Command(("a", "b"), shell=False))
    ep = one("ENTRYPOINT exec app\n")
    assert isinstance(ep, ins.Entrypoint) and ep.command == ins.Command(("exec app",), shell=True)
    sh = one('SHELL ["/bin/bash", "-c"]\n')
    assert isinstance(sh, ins.Shell) and sh.args == ("/bin/bash", "-c")


def test_copy_and_add_flags() -> None:
    cp = one('COPY --from=build --chown=app:app --chmod=u+x --link --parents --exclude=*.md --exclude=tmp ["a b", "c", "/dst/"]\n')
    assert isinstance(cp, ins.Copy)
    assert (cp.add, cp.sources, cp.dest, cp.from_, cp.chown, cp.chmod, cp.link, cp.parents, cp.exclude) == (
        False, ("a b", "c"), "/dst/", "build", "app:app", "u+x", True, True, ("*.md", "tmp"))
    add = one("ADD --keep-git-dir=true --checksum=sha256:abc --unpack=false --link=false https://x/y.tar.gz /opt/\n")
    assert isinstance(add, ins.Copy)
    assert (add.add, add.keep_git_dir, add.checksum, add.unpack, add.link) == (True, True, "sha256:abc", False, False)
    here = one("COPY <<EOF /etc/conf\nx=1\nEOF\n")
    assert isinstance(here, ins.Copy) and here.sources == ("<<EOF",) and here.heredocs[0].content == "x=1\n"


def test_simple_instructions() -> None:
    assert one("EXPOSE 80/tcp 443\n") == ins.Expose(ins.Location("Dockerfile", 2, 2), ("80/tcp", "443"))
    assert isinstance(one("WORKDIR /app\n"), ins.Workdir)
    assert isinstance(one("USER app:app\n"), ins.User)
    vol = one('VOLUME ["/data", "/logs"]\n')
    assert isinstance(vol, ins.Volume) and vol.paths == ("/data", "/logs")
    assert isinstance(one("STOPSIGNAL SIGTERM\n"), ins.StopSignal)
    assert isinstance(one("MAINTAINER someone\n"), ins.Maintainer)


def test_healthcheck() -> None:
    hc = one("HEALTHCHECK --interval=30s --timeout=3s --start-period=1m --retries=3 CMD curl -f http://localhost/\n")
    assert isinstance(hc, ins.Healthcheck)
    assert (hc.interval, hc.timeout, hc.start_period, hc.retries) == ("30s", "3s", "1m", 3)
    assert hc.command == ins.Command(("curl -f http://localhost/",), shell=True)
    none = one("HEALTHCHECK NONE\n")
    assert isinstance(none, ins.Healthcheck) and none.command is None


def test_onbuild_trigger_is_typed() -> None:
    ob = one("ONBUILD COPY . /src\n")
    assert isinstance(ob, ins.Onbuild) and isinstance(ob.trigger, ins.Copy) and ob.expression == "COPY . /src"


@pytest.mark.parametrize(("text", "message"), [
    ("RUN --mount=type=nope,target=/x make\n", "unsupported mount type 'nope'"),
    ("RUN --mount=type=bind,target=/x,sharing=locked make\n", "sharing is only supported for cache mounts"),
    ("RUN --mont=type=cache make\n", r"unknown flag: --mont \(did you mean mount\?\)"),  # BuildKit v0.32.2's words
    ("COPY --user=me foo /tmp/\n", "unknown flag: --user$"),
    ("COPY --link=maybe a b\n", "expecting boolean value for flag link"),
    ("COPY --from=a --from=b x y\n", "Duplicate flag specified: from"),
    ("COPY onlyone\n", "COPY requires at least two arguments"),
    ("FROM a b\n", "FROM requires either one or three arguments"),
    ("ENV A=1 B\n", "can't find = in \"B\""),
    ("ENV ONLY\n", "ENV must have two arguments"),
    ("SHELL /bin/sh -c\n", "SHELL requires the arguments to be in JSON form"),
    ("HEALTHCHECK --interval=soon CMD true\n", 'invalid duration "soon"'),
    ("HEALTHCHECK NONE CMD x\n", "HEALTHCHECK NONE takes no arguments"),
    ("WORKDIR\n", "WORKDIR requires at least one argument"),
    ("EXPOSE --foo 80\n", "unknown flag: --foo"),
])
def test_instruction_errors(text: str, message: str) -> None:
    with pytest.raises(DockerfileError, match=message) as info:
        one(text)
    assert info.value.line == 2
