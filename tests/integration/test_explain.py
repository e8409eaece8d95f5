"""``--explain`` on real builds: after one edit, the note names exactly what changed and the steps
it invalidated; ``bake explain`` repeats the last run's reasons."""

from __future__ import annotations

from pathlib import Path

from bake.app.explain import last_run
from bake.progress.events import Event, Noted, Started
from tests.integration.test_build import project, run

DOCKERFILE = """
FROM {base}
ARG GREETING=hello
WORKDIR /app
COPY . /app
RUN cat /app/a.txt > /out
RUN echo "$GREETING" >> /out
"""
HCL = """
target "app" {
  args = { GREETING = "%s" }
  output = ["type=local,dest=../out"]  # outside the context
}
"""

IGNORE = {".dockerignore": "docker-bake.hcl\nDockerfile\n"}  # the tests edit them: not part of what COPY reads


def _explained(events: list[Event]) -> dict[str, str]:
    """step name → the note on why it ran."""
    return {e.step.name: e.text for e in events if isinstance(e, Noted) and e.step is not None}


def _ran(events: list[Event]) -> set[str]:
    return {e.step.name for e in events if isinstance(e, Started) and not e.step.name.startswith("exporting")}


def test_editing_one_context_file_names_that_file_and_the_steps_it_invalidates(busybox_image: str,
                                                                              tmp_path: Path) -> None:
    d = project(tmp_path, HCL % "hello", DOCKERFILE.format(base=busybox_image),
                {"a.txt": "a\n", "b.txt": "b\n", "sub/c.txt": "c\n", **IGNORE})
    root = tmp_path / "root"
    first: list[Event] = []
    run(d, root, "app", events=first, explain=True)
    notes = _explained(first)
    assert notes and all("first build of this target" in t for t in notes.values())
    assert set(notes) == _ran(first)

    (d / "b.txt").write_text("b changed\n")
    events: list[Event] = []
    run(d, root, "app", events=events, explain=True)
    notes = _explained(events)
    assert set(notes) == _ran(events)
    copy = next(n for n in notes if "COPY" in n)
    assert notes[copy].endswith("context files changed: modified b.txt (1 path)"), notes[copy]
    runs = [n for n in notes if "RUN" in n]
    assert len(runs) == 2 and all(f"parent step ran: {copy}" in notes[n] and "modified b.txt (1 path)" in notes[n]
                                  for n in runs), notes
    assert not any(n for n in notes if "WORKDIR" in n or "FROM" in n)

    lines = last_run(str(root), ["app"])
    assert lines[0].startswith("app: built") and "4 steps ran" in lines[0]  # the context's load, COPY, both RUNs
    assert any("modified b.txt" in line for line in lines[1:])


def test_changing_one_build_arg_names_the_arg(busybox_image: str, tmp_path: Path) -> None:
    d = project(tmp_path, HCL % "hello", DOCKERFILE.format(base=busybox_image), {"a.txt": "a\n", **IGNORE})
    root = tmp_path / "root"
    run(d, root, "app")  # recorded without --explain too
    (d / "docker-bake.hcl").write_text(HCL % "bonjour")
    events: list[Event] = []
    run(d, root, "app", events=events, explain=True)
    notes = _explained(events)
    assert set(notes) == _ran(events)
    # the RUNs after the ARG (BuildKit gives them all its value); the others come from the cache
    assert len(notes) == 2, notes
    first = notes[next(n for n in notes if "cat /app/a.txt" in n)]
    assert first.endswith("ran: build arg GREETING changed: hello → bonjour"), first
    second = notes[next(n for n in notes if "echo" in n)]
    assert "parent step ran:" in second and second.endswith("build arg GREETING changed: hello → bonjour"), second


def test_a_changed_instruction_names_its_line_and_old_and_new_text(busybox_image: str, tmp_path: Path) -> None:
    d = project(tmp_path, HCL % "hello", DOCKERFILE.format(base=busybox_image), {"a.txt": "a\n", **IGNORE})
    root = tmp_path / "root"
    run(d, root, "app")
    (d / "Dockerfile").write_text(DOCKERFILE.format(base=busybox_image).replace("cat /app/a.txt", "cat /app/a.txt /app/a.txt"))
    events: list[Event] = []
    run(d, root, "app", events=events, explain=True)
    notes = _explained(events)
    assert len(notes) == 2, notes
    changed = next(t for n, t in notes.items() if "a.txt /app/a.txt" in n)
    assert "instruction changed at Dockerfile:6:" in changed and "cat /app/a.txt > /out →" in changed, changed
    other = next(t for n, t in notes.items() if "echo" in n)  # BuildKit's step name shows the value, not $GREETING
    assert "parent step ran:" in other and "instruction changed at Dockerfile:6" in other


def test_without_explain_no_notes_are_sent(busybox_image: str, tmp_path: Path) -> None:
    d = project(tmp_path, HCL % "hello", DOCKERFILE.format(base=busybox_image), {"a.txt": "a\n", **IGNORE})
    events: list[Event] = []
    run(d, tmp_path / "root", "app", events=events)
    assert not _explained(events) and _ran(events)


def test_the_cli_prints_one_line_per_step_that_ran_and_bake_explain_repeats_them(busybox_image: str,
                                                                                  tmp_path: Path) -> None:
    import json
    import subprocess
    import sys

    d = project(tmp_path, HCL % "hello", DOCKERFILE.format(base=busybox_image), {"a.txt": "a\n", **IGNORE})
    root = str(tmp_path / "root")

    def bake(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "bake", *args], cwd=d, capture_output=True, text=True,
                              check=True, timeout=300)

    bake("--root", root, "app")
    (d / "a.txt").write_text("A\n")
    plain = bake("--root", root, "--explain", "--progress=plain", "app").stderr
    why = [line for line in plain.splitlines() if line.startswith("why ")]
    assert len(why) == 4 and all("modified a.txt (1 path)" in line for line in why), plain
    (d / "a.txt").write_text("AA\n")
    raw = bake("--root", root, "--explain", "--progress=rawjson", "app").stdout
    noted = [e for e in map(json.loads, raw.splitlines()) if e["event"] == "noted" and "step" in e]
    assert len(noted) == 4 and all(e["step"]["digest"].startswith("sha256:") for e in noted)
    shown = bake("explain", "--root", root, "app").stdout.splitlines()
    assert shown[0].startswith("app: built") and [s.strip() for s in shown[1:]] == [e["text"] for e in noted]
    assert "other: no build recorded" in bake("explain", "--root", root, "other").stdout


def test_plan_explain_forecasts_what_would_run_and_why_without_running_it(busybox_image: str,
                                                                          tmp_path: Path) -> None:
    from bake.app import Request, resolve
    from bake.app.explain import planned

    d = project(tmp_path, HCL % "hello", DOCKERFILE.format(base=busybox_image), {"a.txt": "a\n", **IGNORE})
    root = tmp_path / "root"
    run(d, root, "app")
    req = resolve(Request(targets=("app",), cwd=str(d)))
    assert planned(req, str(root)) == ["1 step from the cache, 0 to run"]  # the last: nothing before it is needed
    (d / "a.txt").write_text("changed\n")
    lines = planned(req, str(root))
    assert lines[0] == "1 step from the cache, 4 to run", lines  # the image is cached; context, COPY, 2 RUNs run
    ran = [line for line in lines[1:] if line.startswith("run ")]
    assert ran and all("modified a.txt (1 path)" in line for line in ran), lines
    assert any("COPY" in line for line in ran) and any("echo" in line for line in ran)
    events: list[Event] = []
    run(d, root, "app", events=events, explain=True)  # the forecast was right: the same steps run
    assert {f"run {n}" for n in _explained(events)} == {line.split(": ")[0] for line in ran}


FAILING = """
FROM {base} AS base
RUN echo base > /base
FROM base AS a
COPY a.txt /a
FROM base AS b
COPY b.txt /b
RUN {command}
"""
TWO = """
group "default" { targets = ["a", "b"] }
target "a" {
  target = "a"
  output = ["type=local,dest=../out/a"]
}
target "b" {
  target = "b"
  output = ["type=local,dest=../out/b"]
}
"""


def test_a_multi_target_build_with_a_failure_explains_both_and_remembers_the_failure(busybox_image: str,
                                                                                     tmp_path: Path) -> None:
    import pytest

    from bake.errors import BakeError

    d = project(tmp_path, TWO, FAILING.format(base=busybox_image, command="exit 3"),
                {"a.txt": "a\n", "b.txt": "b\n", **IGNORE})
    root = tmp_path / "root"
    events: list[Event] = []
    with pytest.raises(BakeError):
        run(d, root, events=events, explain=True, keep_going=True)
    notes = _explained(events)
    assert set(notes) == _ran(events) and all("first build of this target" in t for t in notes.values()), notes
    assert any("exit 3" in n for n in notes)  # the failing step is explained as it starts
    lines = last_run(str(root), [])
    a, b = (next(line for line in lines if line.startswith(f"{t}: ")) for t in "ab")
    assert a.startswith("a: built") and b.startswith("b: failed"), lines

    (d / "Dockerfile").write_text(FAILING.format(base=busybox_image, command="cat /b"))
    (d / "a.txt").write_text("a changed\n")
    events = []
    run(d, root, events=events, explain=True)
    notes = _explained(events)
    assert set(notes) == _ran(events)
    fixed = next(t for n, t in notes.items() if "cat /b" in n)
    assert "instruction changed at Dockerfile:8:" in fixed and "exit 3 → " in fixed, fixed
    copy_a = next(t for n, t in notes.items() if "a.txt" in n)
    assert copy_a.endswith("context files changed: modified a.txt (1 path)"), copy_a
    assert not any("echo base" in n or "b.txt" in n for n in notes), notes  # shared base and b's COPY: cached
    assert last_run(str(root), ["b"])[0].startswith("b: built")
