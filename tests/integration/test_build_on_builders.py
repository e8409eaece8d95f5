"""The build suite (tests/integration/test_build.py's builds, through the CLI) and the examples, on
every builder: the embedded worker, dockerd's BuildKit (docker driver) and a remote buildkitd
(``tests/integration/builders.py``). Each test asserts the same outputs whatever the builder; what
a builder lacks is marked with its reason."""

from __future__ import annotations

import json
import shutil
import tarfile
import uuid
from pathlib import Path

import pytest

from tests.integration.builders import Builder, builder_fixture, ran, remote_base, steps  # noqa: F401  (fixtures)
from tests.integration.httpfiles import served
from tests.integration.test_build import GATE, KEEP_GOING, SHARED, SHARED_HCL, project, wait_for

pytestmark = pytest.mark.root


def test_a_shared_step_runs_once_and_both_targets_see_its_result(builder: Builder, tmp_path: Path) -> None:
    d = project(tmp_path, SHARED_HCL.format(), SHARED.format(base=builder.base))
    first = builder.ok(d)
    a, b = (d / "out/a/a").read_text(), (d / "out/b/b").read_text()
    assert a == b and len(a) == 32  # one random: the shared step ran once for both
    assert len(ran(first, "urandom")) == 1
    again = builder.ok(d)
    assert ran(again, "RUN") == [] and (d / "out/a/a").read_text() == a  # every step a cache hit


def test_independent_steps_run_at_the_same_time(builder: Builder, tmp_path: Path) -> None:
    # each step says it started, then waits for the other: both end only if they overlapped
    dockerfile = (f"FROM {builder.base} AS base\n"
                  f"FROM base AS a\nRUN {GATE} touch /gate/a; {wait_for('/gate/b')}; echo a > /a\n"
                  f"FROM base AS b\nRUN {GATE} touch /gate/b; {wait_for('/gate/a')}; echo b > /b\n")
    d = project(tmp_path, SHARED_HCL.format(), dockerfile)
    builder.ok(d)
    assert (d / "out/a/a").read_text() == "a\n" and (d / "out/b/b").read_text() == "b\n"


def test_a_change_invalidates_only_what_reads_it(builder: Builder, tmp_path: Path) -> None:
    dockerfile = (f"FROM {builder.base}\nARG FLAVOUR=plain\nCOPY app.txt /app.txt\n"
                  "RUN echo \"$FLAVOUR $(cat /app.txt)\" > /result\n")
    hcl = ('variable "FLAVOUR" {\n  default = "plain"\n}\ntarget "default" {\n  args = { FLAVOUR = FLAVOUR }\n'
           '  output = ["type=local,dest=out"]\n}\n')
    d = project(tmp_path, hcl, dockerfile, {"app.txt": "one", "notes.txt": "unrelated"})
    builder.ok(d)
    assert (d / "out/result").read_text() == "plain one\n"
    (d / "notes.txt").write_text("edited")  # no COPY selects it
    assert ran(builder.ok(d), "RUN") == []
    (d / "app.txt").write_text("two")
    out = builder.ok(d)
    assert len(ran(out, "COPY")) == 1 and len(ran(out, "RUN")) == 1
    assert (d / "out/result").read_text() == "plain two\n"
    out = builder.ok(d, env={"FLAVOUR": "spicy"})
    assert ran(out, "COPY") == [] and len(ran(out, "RUN")) == 1
    assert (d / "out/result").read_text() == "spicy two\n"


def test_a_failing_step_names_itself_and_its_output(builder: Builder, tmp_path: Path) -> None:
    d = project(tmp_path, 'target "default" {}\n',
                f"FROM {builder.base}\nRUN echo preparing; sleep 0.2; echo 'it broke' >&2; exit 3\n")
    r = builder.bake(d)
    assert r.returncode != 0
    assert "RUN echo preparing;" in r.stderr and "it broke" in r.stderr and "preparing" in r.stderr
    assert "exit code: 3" in r.stderr


def test_keep_going_builds_and_exports_what_does_not_need_the_failure(builder: Builder, tmp_path: Path) -> None:
    dockerfile = f"FROM {builder.base} AS bad\nRUN exit 1\nFROM {builder.base} AS good\nRUN sleep 0.5; echo ok > /ok\n"
    d = project(tmp_path, KEEP_GOING.format(), dockerfile)
    r = builder.bake(d, "--keep-going")
    assert r.returncode != 0
    assert (d / "out/ok").read_text() == "ok\n"


def test_without_keep_going_the_first_failure_stops_the_others(builder: Builder, tmp_path: Path) -> None:
    # bad fails only once good's step runs; good would then sleep a minute
    dockerfile = (f"FROM {builder.base} AS bad\nRUN {GATE} {wait_for('/gate/good')}; exit 1\n"
                  f"FROM {builder.base} AS good\nRUN {GATE} touch /gate/good; sleep 60\n")
    d = project(tmp_path, KEEP_GOING.format(), dockerfile)
    r = builder.bake(d)
    assert r.returncode != 0
    assert steps(r.stderr).get(f"RUN {GATE} touch /gate/good; sleep 60") != "DONE"
    assert not (d / "out").exists()


def test_several_failures_are_reported_together(builder: Builder, tmp_path: Path) -> None:
    dockerfile = f"FROM {builder.base} AS bad\nRUN exit 1\nFROM {builder.base} AS good\nRUN exit 2\n"
    d = project(tmp_path, KEEP_GOING.format(), dockerfile)
    r = builder.bake(d, "--keep-going")
    assert r.returncode != 0
    assert "exit code: 1" in r.stderr and "exit code: 2" in r.stderr


CACHE_MOUNT = ("RUN --mount=type=cache,target=/cache --mount=type=secret,id=token "
               "echo run >> /cache/runs && wc -l < /cache/runs > /runs && cat /run/secrets/token | wc -c > /secret-size\n")


def _runs(tarball: Path) -> tuple[str, str]:
    """What the cache-mount step wrote: how many runs the mount had seen, and the secret's size."""
    with tarfile.open(tarball) as tar:
        runs = tar.extractfile("runs").read().decode().strip()  # type: ignore[union-attr]
        size = tar.extractfile("secret-size").read().decode().strip()  # type: ignore[union-attr]
        assert not any(n.endswith("secrets/token") for n in tar.getnames())
    assert b"s3cr3t-value" not in tarball.read_bytes()
    return runs, size


def test_cache_mounts_persist_and_secrets_stay_out_of_outputs(builder: Builder, tmp_path: Path) -> None:
    hcl = ('variable "N" {\n  default = "1"\n}\ntarget "default" {\n  args = { N = N }\n'
           '  secret = ["id=token,src=token.txt"]\n  output = ["type=tar,dest=out.tar"]\n}\n')
    d = project(tmp_path, hcl, f"FROM {builder.base}\nARG N\n{CACHE_MOUNT}", {"token.txt": "s3cr3t-value"})
    # a daemon outlives the test run: fresh keys, and a mount earlier runs may have used
    builder.ok(d, env={"N": uuid.uuid4().hex})
    runs, size = _runs(d / "out.tar")
    assert size == "12"
    builder.ok(d, env={"N": uuid.uuid4().hex})  # another key: the step runs again, on the same cache mount
    assert _runs(d / "out.tar") == (str(int(runs) + 1), "12")


def test_no_cache_starts_a_cache_mount_afresh(builder: Builder, tmp_path: Path) -> None:
    # BuildKit (v0.32.2, checked with the reference's buildx --no-cache, and dockerd's 0.8) gives the step an empty one
    hcl = ('target "default" {\n  no-cache = true\n'
           '  secret = ["id=token,src=token.txt"]\n  output = ["type=tar,dest=out.tar"]\n}\n')
    d = project(tmp_path, hcl, f"FROM {builder.base}\n{CACHE_MOUNT}", {"token.txt": "s3cr3t-value"})
    builder.ok(d)
    builder.ok(d)
    assert _runs(d / "out.tar") == ("1", "12")


def test_a_steps_mount_points_leave_nothing_in_the_result(builder: Builder, tmp_path: Path) -> None:
    builder.fails_on(docker="BuildKit 0.8 keeps the mount points a step made (/cache, /run/secrets) in its "
                            "result; newer ones remove them (Meta.removeMountStubsRecursive, which bake sends), as "
                            "v0.32.2 and the embedded worker do")
    hcl = 'target "default" {\n  secret = ["id=token,src=token.txt"]\n  output = ["type=tar,dest=out.tar"]\n}\n'
    d = project(tmp_path, hcl, f"FROM {builder.base}\n{CACHE_MOUNT}", {"token.txt": "s3cr3t-value"})
    builder.ok(d)
    with tarfile.open(d / "out.tar") as tar:
        tops = {n.removeprefix("./").split("/")[0] for n in tar.getnames()}
    assert "runs" in tops and not tops & {"cache", "run"}, sorted(tops)


def test_multi_platform_local_output_has_a_directory_per_platform(builder: Builder, tmp_path: Path) -> None:
    builder.refuses(docker="several platforms (the engine serves its own; buildx refuses them on this driver too)",
                    remote="linux/arm64, which the daemon's workers do not report")
    d = project(tmp_path, 'target "default" {\n  platforms = ["linux/amd64", "linux/arm64"]\n'
                '  output = ["type=local,dest=out"]\n}\n',
                "FROM scratch\nARG TARGETARCH\nCOPY app.txt /\nCOPY <<EOF /arch\n${TARGETARCH}\nEOF\n", {"app.txt": "x"})
    builder.ok(d)
    assert (d / "out/linux_amd64/arch").read_text() == "amd64\n"
    assert (d / "out/linux_arm64/arch").read_text() == "arm64\n"
    assert (d / "out/linux_arm64/app.txt").read_text() == "x"


def test_metadata_file_has_an_entry_per_built_target(builder: Builder, tmp_path: Path) -> None:
    d = project(tmp_path, KEEP_GOING.format(), f"FROM {builder.base} AS bad\nRUN exit 1\n"
                f"FROM {builder.base} AS good\nRUN true\n")
    meta = tmp_path / "meta.json"
    assert builder.bake(d, "--keep-going", "--metadata-file", str(meta)).returncode != 0
    doc = json.loads(meta.read_text())
    assert list(doc) == ["good"] and doc["good"]["buildx.build.ref"]


def test_add_of_a_url_is_cached_by_its_content(builder: Builder, tmp_path: Path) -> None:
    www = tmp_path / "www"
    www.mkdir()
    (www / "tool.txt").write_text("version 1\n")
    with served(www) as base:
        d = project(tmp_path, 'target "default" {\n  output = ["type=local,dest=out"]\n}\n',
                    f"FROM {builder.base}\nADD {base}/tool.txt /opt/\nRUN cat /opt/tool.txt > /seen\n")
        builder.ok(d)
        assert (d / "out/seen").read_text() == "version 1\n"
        assert ran(builder.ok(d), "RUN") == []  # same content: cached
        (www / "tool.txt").write_text("version 2\n")
        assert len(ran(builder.ok(d), "RUN")) == 1 and (d / "out/seen").read_text() == "version 2\n"


def test_no_cache_and_no_cache_filter_run_steps_again(builder: Builder, tmp_path: Path) -> None:
    d = project(tmp_path, 'target "default" {\n  output = ["type=local,dest=out"]\n}\n',
                f"FROM {builder.base} AS deps\nRUN head -c 8 /dev/urandom | od -An -tx1 > /deps\n"
                "FROM deps AS app\nRUN cp /deps /app\n")
    builder.ok(d)
    first = (d / "out/app").read_text()
    assert ran(builder.ok(d), "RUN") == []
    again = builder.ok(d, "--set", "*.no-cache-filter=app")
    assert ran(again, "RUN") == ["RUN cp /deps /app"] and (d / "out/app").read_text() == first
    fresh = builder.ok(d, "--no-cache")
    assert len(ran(fresh, "RUN")) == 2 and (d / "out/app").read_text() != first


def test_no_cache_reports_no_step_cached(builder: Builder, tmp_path: Path) -> None:
    d = project(tmp_path, 'target "default" {}\n', f"FROM {builder.base}\nWORKDIR /app\nCOPY f .\nRUN true\n",
                {"f": "x"})
    builder.ok(d)
    out = builder.ok(d, "--no-cache")
    cached = [n for n, how in steps(out).items() if how == "CACHED"]
    assert not [n for n in cached if "WORKDIR" in n or "COPY" in n or "RUN" in n], cached


IMAGE = """
FROM {base} AS build
RUN mkdir /app && echo built > /app/built
FROM {base}
COPY --from=build /app /app
ENV MODE=release PATH=/app/bin:$PATH
WORKDIR /app
USER 1000:1000
EXPOSE 8080/tcp
LABEL org.example.role=test
ENTRYPOINT ["sh", "-c"]
CMD ["cat built"]
"""


def test_an_image_output_carries_the_same_config(builder: Builder, tmp_path: Path) -> None:
    d = project(tmp_path, 'target "app" {}\n', IMAGE.format(base=builder.base))
    config = builder.image_config(d, "app", f"bake-test/{tmp_path.name.lower()}:1")
    config["Env"] = [e for e in config["Env"] if not e.startswith("BAKE_TEST_RUN=")]  # the remote base's own
    assert {k: config.get(k) for k in ("Env", "WorkingDir", "User", "ExposedPorts", "Labels", "Entrypoint", "Cmd")} == {
        "Env": ["PATH=/app/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "MODE=release"],
        "WorkingDir": "/app", "User": "1000:1000", "ExposedPorts": {"8080/tcp": {}},
        "Labels": {"org.example.role": "test"}, "Entrypoint": ["sh", "-c"], "Cmd": ["cat built"]}


EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def test_the_go_cross_example(builder: Builder, tmp_path: Path) -> None:
    d = tmp_path / "go-cross"
    shutil.copytree(EXAMPLES / "go-cross", d)
    builder.ok(d, "--set", "*.platform=linux/amd64", "binaries")
    hello = d / "bin" / "hello"
    assert hello.read_text().startswith("#!/bin/sh") and "amd64" in hello.read_text()
    assert hello.stat().st_mode & 0o777 == 0o755


def test_the_node_monorepo_example(builder: Builder, tmp_path: Path) -> None:
    d = tmp_path / "node-monorepo"
    shutil.copytree(EXAMPLES / "node-monorepo", d)
    out = builder.ok(d, "--set", "*.platform=linux/amd64", "--set", "production.output=type=tar,dest=prod.tar",
                     "test", "production")
    assert "tests passed" in out
    with tarfile.open(d / "prod.tar") as tf:
        index = tf.extractfile("app/dist/index.js")
        assert index is not None and index.read() == (d / "src" / "index.js").read_bytes()


def test_the_matrix_release_example(builder: Builder, tmp_path: Path) -> None:
    d = tmp_path / "matrix-release"
    shutil.copytree(EXAMPLES / "matrix-release", d)
    names = [f"{svc}-{distro}" for svc in ("api", "worker") for distro in ("alpine", "debian")]
    outputs = [a for n in names for a in ("--set", f"{n}.output=type=local,dest=out/{n}")]
    builder.ok(d, "--set", "*.platform=linux/amd64", "--set", "*.cache-to=", "--set", "*.cache-from=", *outputs)
    for svc, distro in (n.split("-") for n in names):
        assert (d / "out" / f"{svc}-{distro}" / "srv" / "about").read_text() == f"{svc} on {distro}\n"
