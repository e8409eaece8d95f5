"""Whole builds with the real runtime, overlayfs and registry: what is shared, cached, invalidated,
and what happens when a step fails or a build is cancelled."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from bake.app import Request, resolve
from bake.app.build import BuildOptions, build
from bake.app.outputs import TargetResult
from bake.errors import BuildFailed, StepError
from bake.progress.events import Completed, Event, Logged, Started
from tests.integration.httpfiles import served


def project(tmp_path: Path, hcl: str, dockerfile: str, files: dict[str, str] | None = None) -> Path:
    d = tmp_path / "project"
    d.mkdir(exist_ok=True)
    (d / "docker-bake.hcl").write_text(hcl)
    (d / "Dockerfile").write_text(dockerfile)
    for name, text in (files or {}).items():
        (d / name).parent.mkdir(parents=True, exist_ok=True)
        (d / name).write_text(text)
    return d


def run(d: Path, root: Path, *targets: str, events: list[Event] | None = None, **opts: object) -> list[TargetResult]:
    return build(resolve(Request(targets=targets, cwd=str(d))), BuildOptions(root=str(root), **opts),  # type: ignore[arg-type]
                 events.append if events is not None else (lambda e: None))


def executed(results: list[TargetResult]) -> int:
    return sum(r.executed for r in results)


SHARED = """
FROM {base} AS base
RUN head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \\n' > /random
FROM base AS a
RUN cp /random /a
FROM base AS b
RUN cp /random /b
"""
SHARED_HCL = """
group "default" {{ targets = ["a", "b"] }}
target "a" {{
  target = "a"
  output = ["type=local,dest=out/a"]
}}
target "b" {{
  target = "b"
  output = ["type=local,dest=out/b"]
}}
"""


def test_a_shared_step_runs_once_and_both_targets_see_its_result(busybox_image: str, tmp_path: Path) -> None:
    d = project(tmp_path, SHARED_HCL.format(), SHARED.format(base=busybox_image))
    events: list[Event] = []
    results = run(d, tmp_path / "root", events=events)
    a, b = (d / "out/a/a").read_text(), (d / "out/b/b").read_text()
    assert a == b and len(a) == 32
    randoms = [e for e in events if isinstance(e, Started) and "urandom" in e.step.name]
    assert len(randoms) == 1 and randoms[0].step.targets == ("a", "b")
    # a restart with the same root: every step is a cache hit, nothing runs
    again = run(d, tmp_path / "root")
    assert executed(again) == 0 and [r.cached for r in again] == [1, 1]
    steps = [e for e in events if isinstance(e, Started) and "exporting" not in e.step.name]
    assert len(steps) == 4  # image, random, a, b: nothing twice
    assert [e.step.name for e in events if isinstance(e, Started) and "exporting" in e.step.name] == [
        "exporting to directory out/a", "exporting to directory out/b"]
    assert [r.executed for r in results] == [3, 3]  # each target needed 3 steps (2 of them shared)


def wait_for(path: str) -> str:
    """A shell loop that waits (up to 60 s, then fails the step) until ``path`` exists: steps
    rendezvous through a shared cache mount instead of assuming how long anything takes."""
    return f"i=0; until [ -e {path} ]; do i=$((i+1)); [ $i -lt 1200 ] || exit 97; sleep 0.05; done"


GATE = "--mount=type=cache,id=gate,target=/gate,sharing=shared"


def gate_dir(root: Path) -> Path:
    """The host side of the ``gate`` cache mount in the state root ``root``."""
    from bake.worker.cachemounts import CacheMounts

    lease = CacheMounts(str(root)).acquire("gate")
    lease.release()
    return Path(lease.path)


def test_independent_steps_run_at_the_same_time(busybox_image: str, tmp_path: Path) -> None:
    # each step says it started, then waits for the other: they finish only if they overlapped
    dockerfile = (f"FROM {busybox_image} AS base\n"
                  f"FROM base AS a\nRUN {GATE} touch /gate/a; {wait_for('/gate/b')}; echo a\n"
                  f"FROM base AS b\nRUN {GATE} touch /gate/b; {wait_for('/gate/a')}; echo b\n")
    d = project(tmp_path, 'group "default" {\n  targets = ["a", "b"]\n}\ntarget "a" {\n  target = "a"\n}\n'
                'target "b" {\n  target = "b"\n}\n', dockerfile)
    events: list[Event] = []
    run(d, tmp_path / "root", events=events)
    order = [(type(e).__name__, e.step.name) for e in events if isinstance(e, Started | Completed) and "/gate" in e.step.name]
    assert [kind for kind, _ in order] == ["Started", "Started", "Completed", "Completed"]


def test_a_change_invalidates_only_what_reads_it(busybox_image: str, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    dockerfile = (f"FROM {busybox_image}\nARG FLAVOUR=plain\nCOPY app.txt /app.txt\n"
                  "RUN echo \"$FLAVOUR $(cat /app.txt)\" > /result\n")
    hcl = ('variable "FLAVOUR" {\n  default = "plain"\n}\ntarget "default" {\n  args = { FLAVOUR = FLAVOUR }\n'
           '  output = ["type=local,dest=out"]\n}\n')
    d = project(tmp_path, hcl, dockerfile, {"app.txt": "one", "notes.txt": "unrelated"})
    root = tmp_path / "root"
    run(d, root)
    assert (d / "out/result").read_text() == "plain one\n"
    (d / "notes.txt").write_text("edited")  # no COPY selects it
    assert executed(run(d, root)) == 0
    (d / "app.txt").write_text("two")
    assert executed(run(d, root)) == 3  # the context, the COPY and the RUN
    assert (d / "out/result").read_text() == "plain two\n"
    monkeypatch.setenv("FLAVOUR", "spicy")
    assert executed(run(d, root)) == 1
    assert (d / "out/result").read_text() == "spicy two\n"


def test_a_new_base_image_digest_is_a_miss_once_pulled(registry: str, busybox_image: str, tmp_path: Path) -> None:
    import sys

    script = Path(__file__).parents[2] / "scripts" / "seed_registry.py"
    repo = "moving/base:1"
    subprocess.run([sys.executable, str(script), registry, "--repo", repo], check=True, capture_output=True)
    d = project(tmp_path, 'target "default" {\n  output = ["type=local,dest=out"]\n}\n',
                f"FROM {registry}/{repo}\nRUN ls /etc > /listing\n")
    root = tmp_path / "root"
    run(d, root)
    # the tag moves to another image
    subprocess.run([sys.executable, str(script), registry, "--repo", repo, "--env", "VERSION=2"],
                   check=True, capture_output=True)
    assert executed(run(d, root)) == 0  # the recorded resolution is reused, as BuildKit does
    pulled = build(resolve(Request(cwd=str(d), overrides=("*.pull=true",))), BuildOptions(root=str(root)))
    assert executed(pulled) == 2  # the new image and the RUN on it


def test_a_failing_step_names_itself_and_its_output(busybox_image: str, tmp_path: Path) -> None:
    d = project(tmp_path, 'target "default" {}\n',
                f"FROM {busybox_image}\nRUN echo preparing; sleep 0.2; echo 'it broke' >&2; exit 3\n")
    with pytest.raises(StepError) as info:
        run(d, tmp_path / "root")
    err = info.value
    assert err.exit_code == 3 and err.targets == ("default",) and "RUN echo preparing;" in err.step
    assert err.output == ("preparing", "it broke")
    assert 'process "/bin/sh -c echo preparing' in err.reason and "exit code: 3" in err.reason


def test_a_failing_step_of_an_inline_dockerfile_shows_its_own_lines(tmp_path: Path) -> None:
    from bake.cli.render import render_error

    # a Dockerfile on disk where the context is: its line 2 must not be shown for the inline one's
    d = project(tmp_path, 'target "default" {\n  dockerfile-inline = "FROM scratch\\nCOPY missing /m\\n"\n}\n',
                "FROM scratch\nCOPY on-disk /d\n")
    with pytest.raises(StepError) as info:
        run(d, tmp_path / "root")
    shown = render_error(info.value)
    assert "Dockerfile:2\n" in shown and ">>> COPY missing /m" in shown and "on-disk" not in shown, shown


KEEP_GOING = """
group "default" {{ targets = ["bad", "good"] }}
target "bad" {{
  target = "bad"
}}
target "good" {{
  target = "good"
  output = ["type=local,dest=out"]
}}
"""


def test_keep_going_builds_and_exports_what_does_not_need_the_failure(busybox_image: str, tmp_path: Path) -> None:
    dockerfile = f"FROM {busybox_image} AS bad\nRUN exit 1\nFROM {busybox_image} AS good\nRUN sleep 0.5; echo ok > /ok\n"
    d = project(tmp_path, KEEP_GOING.format(), dockerfile)
    with pytest.raises(StepError):
        run(d, tmp_path / "root", keep_going=True)
    assert (d / "out/ok").read_text() == "ok\n"


def test_without_keep_going_the_first_failure_stops_running_containers(busybox_image: str, tmp_path: Path) -> None:
    # bad fails only once good's container runs (no guess at how fast a container starts)
    dockerfile = (f"FROM {busybox_image} AS bad\nRUN {GATE} {wait_for('/gate/good')}; exit 1\n"
                  f"FROM {busybox_image} AS good\nRUN {GATE} touch /gate/good; sleep 60\n")
    d = project(tmp_path, KEEP_GOING.format(), dockerfile)
    root = tmp_path / "root"
    events: list[Event] = []
    with pytest.raises(StepError):
        run(d, root, events=events)
    assert [e.error for e in events if isinstance(e, Completed) and "sleep 60" in e.step.name] == ["cancelled"]
    listing = subprocess.run(["runc", "--root", str(root / "run/runtime"), "list", "-q"], capture_output=True, text=True)
    assert listing.stdout.strip() == ""
    assert str(root) not in Path("/proc/mounts").read_text()
    assert not (d / "out").exists()


def test_several_failures_are_reported_together(busybox_image: str, tmp_path: Path) -> None:
    dockerfile = f"FROM {busybox_image} AS bad\nRUN exit 1\nFROM {busybox_image} AS good\nRUN exit 2\n"
    d = project(tmp_path, KEEP_GOING.format(), dockerfile)
    with pytest.raises(BuildFailed) as info:
        run(d, tmp_path / "root", keep_going=True)
    assert [(name, e.exit_code) for name, e in info.value.failures] == [("bad", 1), ("good", 2)]  # type: ignore[attr-defined]


def test_a_no_cache_step_has_an_empty_cache_mount_and_secrets_stay_out_of_outputs(busybox_image: str, tmp_path: Path) -> None:
    dockerfile = (f"FROM {busybox_image}\n"
                  "RUN --mount=type=cache,target=/cache --mount=type=secret,id=token "
                  "echo run >> /cache/runs && wc -l < /cache/runs > /runs && cat /run/secrets/token | wc -c > /secret-size\n")
    hcl = ('variable "N" {\n  default = "1"\n}\ntarget "default" {\n  args = { N = N }\n  no-cache = true\n'
           '  secret = ["id=token,src=token.txt"]\n  output = ["type=tar,dest=out.tar"]\n}\n')
    d = project(tmp_path, hcl, dockerfile, {"token.txt": "s3cr3t-value"})
    root = tmp_path / "root"
    run(d, root)
    run(d, root)
    import tarfile

    with tarfile.open(d / "out.tar") as tar:
        runs = tar.extractfile("runs").read().decode().strip()  # type: ignore[union-attr]
        size = tar.extractfile("secret-size").read().decode().strip()  # type: ignore[union-attr]
        names = tar.getnames()
    assert runs == "1" and size == "12"  # no-cache: each run's cache mount starts empty, as BuildKit's
    assert not any("secrets" in n for n in names)
    assert b"s3cr3t-value" not in (d / "out.tar").read_bytes()


def test_multi_platform_local_output_has_a_directory_per_platform(tmp_path: Path) -> None:
    """COPY-only stages need no emulation: any platform builds here."""
    d = project(tmp_path, 'target "default" {\n  platforms = ["linux/amd64", "linux/arm64"]\n'
                '  output = ["type=local,dest=out"]\n}\n',
                "FROM scratch\nARG TARGETARCH\nCOPY app.txt /\nCOPY <<EOF /arch\n${TARGETARCH}\nEOF\n", {"app.txt": "x"})
    run(d, tmp_path / "root")
    assert (d / "out/linux_amd64/arch").read_text() == "amd64\n"
    assert (d / "out/linux_arm64/arch").read_text() == "arm64\n"
    assert (d / "out/linux_arm64/app.txt").read_text() == "x"


def test_output_streams_as_the_step_runs(busybox_image: str, tmp_path: Path) -> None:
    # the step prints "one", then waits until the test has seen "one" in a progress event
    d = project(tmp_path, 'target "default" {}\n',
                f"FROM {busybox_image}\nRUN {GATE} echo one; {wait_for('/gate/seen')}; echo two\n")
    gate = gate_dir(tmp_path / "root")

    class Events(list[Event]):
        def append(self, e: Event) -> None:
            if isinstance(e, Logged) and e.data == b"one\n":
                (gate / "seen").touch()  # the step is still running: it cannot end before this
            super().append(e)

    events = Events()
    run(d, tmp_path / "root", events=events)
    logs = [e for e in events if isinstance(e, Logged) and "RUN" in e.step.name]
    done = next(e for e in events if isinstance(e, Completed) and "RUN" in e.step.name)
    assert b"".join(e.data for e in logs) == b"one\ntwo\n"
    assert logs[0].data == b"one\n" and logs[0].at <= done.at  # shown while the step still ran (it waited for it)
    pull = b"".join(e.data for e in events if isinstance(e, Logged) and "RUN" not in e.step.name).decode()
    assert pull.startswith(f"resolve {busybox_image}:latest@sha256:") and "fetched" in pull  # what the pull did
    assert pull.endswith("unpacked 1 layer(s)\n")


def test_the_python_api_builds_silently_and_reports_each_target(busybox_image: str, tmp_path: Path,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    import bake

    d = project(tmp_path, 'target "app" {\n  output = ["type=local,dest=out"]\n}\n',
                f"FROM {busybox_image}\nRUN echo hi > /hi\n")
    events: list[Event] = []
    (result,) = bake.build(targets=["app"], cwd=str(d), root=str(tmp_path / "root"), progress=events.append)
    assert (result.target, result.outputs, result.executed, result.error) == ("app", ("type=local,dest=out",), 2, None)
    assert (d / "out/hi").read_text() == "hi\n"
    assert [e.step.name for e in events if isinstance(e, Started)][-2:] == [
        "[2/2] RUN echo hi > /hi", "exporting to directory out"]  # BuildKit's numbering: FROM is step 1
    assert capsys.readouterr() == ("", "")


def test_metadata_file_has_an_entry_per_built_target(busybox_image: str, tmp_path: Path) -> None:
    import json

    d = project(tmp_path, KEEP_GOING.format(), f"FROM {busybox_image} AS bad\nRUN exit 1\n"
                f"FROM {busybox_image} AS good\nRUN true\n")
    meta = tmp_path / "meta.json"
    with pytest.raises(StepError):
        run(d, tmp_path / "root", keep_going=True, metadata_file=str(meta))
    doc = json.loads(meta.read_text())
    assert list(doc) == ["good"] and doc["good"]["buildx.build.ref"].startswith("bake/good/")


def test_add_of_a_url_is_cached_by_its_content(busybox_image: str, tmp_path: Path) -> None:
    www = tmp_path / "www"
    www.mkdir()
    (www / "tool.txt").write_text("version 1\n")
    with served(www) as base:
        d = project(tmp_path, 'target "default" {\n  output = ["type=local,dest=out"]\n}\n',
                    f"FROM {busybox_image}\nADD {base}/tool.txt /opt/\nRUN cat /opt/tool.txt > /seen\n")
        root = tmp_path / "root"
        run(d, root)
        assert (d / "out/seen").read_text() == "version 1\n"
        assert executed(run(d, root)) == 0  # same content: cached
        (www / "tool.txt").write_text("version 2\n")
        again = run(d, root)
        assert executed(again) >= 2 and (d / "out/seen").read_text() == "version 2\n"


def test_add_of_a_git_repository_over_ssh(busybox_image: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``git@host:path`` goes through ssh; the ssh here is a stand-in that runs the remote command
    locally (no sshd in CI), which is exactly what git asks of ssh."""
    repo = tmp_path / "repo"
    subprocess.run(["git", "init", "-q", "-b", "main", str(repo)], check=True)
    (repo / "README").write_text("from git, version 1\n")
    git = ["git", "-C", str(repo), "-c", "user.email=t@example.com", "-c", "user.name=t"]
    subprocess.run([*git, "add", "README"], check=True)
    subprocess.run([*git, "commit", "-q", "-m", "one"], check=True)
    fake_ssh = tmp_path / "fake-ssh"
    fake_ssh.write_text('#!/bin/sh\nwhile [ "$#" -gt 1 ]; do shift; done\nexec sh -c "$1"\n')
    fake_ssh.chmod(0o755)
    calls = tmp_path / "ssh-calls"
    monkeypatch.setenv("GIT_SSH_COMMAND", f"sh -c 'echo called >> {calls}; exec {fake_ssh} \"$@\"' ssh")
    d = project(tmp_path, 'target "default" {\n  output = ["type=local,dest=out"]\n}\n',
                f"FROM {busybox_image}\nADD git@example.invalid:{repo}#main /src\nRUN cat /src/README > /seen\n")
    root = tmp_path / "root"
    run(d, root)
    assert (d / "out/seen").read_text() == "from git, version 1\n" and calls.exists()
    assert executed(run(d, root)) == 0  # the same commit: cached (ls-remote answered the key)
    (repo / "README").write_text("from git, version 2\n")
    subprocess.run([*git, "commit", "-q", "-am", "two"], check=True)
    run(d, root)
    assert (d / "out/seen").read_text() == "from git, version 2\n"


def test_no_cache_and_no_cache_filter_run_steps_again(busybox_image: str, tmp_path: Path) -> None:
    d = project(tmp_path, 'target "default" {\n  output = ["type=local,dest=out"]\n}\n',
                f"FROM {busybox_image} AS deps\nRUN head -c 8 /dev/urandom | od -An -tx1 > /deps\n"
                "FROM deps AS app\nRUN cp /deps /app\n")
    root = tmp_path / "root"
    run(d, root)
    first = (d / "out/app").read_text()
    assert executed(run(d, root)) == 0
    again = build(resolve(Request(cwd=str(d), overrides=("*.no-cache-filter=app",))), BuildOptions(root=str(root)))
    assert executed(again) == 1 and (d / "out/app").read_text() == first  # only app's step; deps kept
    fresh = build(resolve(Request(cwd=str(d), overrides=("*.no-cache=true",))), BuildOptions(root=str(root)))
    assert executed(fresh) == 2 and (d / "out/app").read_text() != first  # every RUN ran again


def test_plan_uses_the_base_image_configs_earlier_builds_recorded(busybox_image: str, tmp_path: Path) -> None:
    import bake
    from bake.graph.ops import ExecOp

    base = f"{busybox_image.rsplit('/', 2)[0]}/test/marked:plan"  # an image whose config sets an ENV
    (tmp_path / "base").mkdir()
    pushed = project(tmp_path / "base", f'target "default" {{\n  output = ["type=registry,name={base}"]\n}}\n',
                     f"FROM {busybox_image}\nENV MARK=recorded\n")
    run(pushed, tmp_path / "pusher")
    d = project(tmp_path, 'target "default" {}\n', f"FROM {base}\nRUN true\n")
    root = tmp_path / "root"

    def run_env() -> tuple[str, ...]:
        graph = bake.analyze(cwd=str(d), env={"BAKE_ROOT": str(root)})
        (op,) = [v.op for v in graph.vertices.values() if isinstance(v.op, ExecOp)]
        return op.env

    assert "MARK=recorded" not in run_env()  # offline, nothing recorded: an empty config (and BuildKit's PATH)
    run(d, root)
    assert "MARK=recorded" in run_env()  # the base image's ENV, as the build recorded it


def test_no_cache_reports_no_step_cached(busybox_image: str, tmp_path: Path) -> None:
    """``--no-cache``: COPY and WORKDIR run again too, not only RUN (as buildx shows it)."""
    from bake.progress.events import Cached

    d = project(tmp_path, 'target "default" {}\n', f"FROM {busybox_image}\nWORKDIR /app\nCOPY f .\nRUN true\n",
                {"f": "x"})
    root = tmp_path / "root"
    run(d, root)
    events: list[Event] = []
    build(resolve(Request(cwd=str(d), overrides=("*.no-cache=true",))), BuildOptions(root=str(root)), events.append)
    cached = [e.step.name for e in events if isinstance(e, Cached)]
    assert not [n for n in cached if "WORKDIR" in n or "COPY" in n or "RUN" in n], cached
