"""Time and peak memory of `bake` on large or hostile front-end inputs (issue 10, part 5).

Cases: a 10 MB quoted string and a 10 MB heredoc in a bake file (`--print`), `format("%1000000000s")`
(must be refused quickly), a matrix of 10^6 combinations (refused), and a 100,000-line Dockerfile
(`--call=check` and `--plan`; 20k and 40k lines too, to show the growth is linear). Each case runs
in a fresh process with the parse cache off; the figures before the fix were measured on the same
machine class (2 cores) with the commit before issue 10's front-end work (4255428).

Run: .venv/bin/python benchmarks/hostile_inputs.py [--quick]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# seconds, MB of peak RSS, outcome — measured before the fix (4255428)
BEFORE: dict[str, tuple[float, float, str]] = {
    "string 10 MB --print": (13.8, 1977, "ok"),
    "heredoc 10 MB --print": (21.1, 2130, "ok"),
    "format %1000000000s": (30.3, 2903, "ok (1 GB value)"),
    "matrix 10^6 --print": (120.0, 1700, "killed after 120 s (issue figure)"),
    "dockerfile 20k --call=check": (4.2, 47, "ok"),
    "dockerfile 40k --call=check": (29.7, 76, "ok"),
    "dockerfile 100k --call=check": (120.0, 0, "> 120 s (issue figure)"),
    "dockerfile 20k --plan": (2.0, 82, "ok"),
    "dockerfile 40k --plan": (6.8, 150, "error: 'Definition too deeply nested'"),
    "dockerfile 100k --plan": (39.8, 321, "error: 'Definition too deeply nested'"),
}


def dockerfile(lines: int) -> str:
    out = ["FROM busybox AS base"]
    i = 0
    while len(out) < lines:
        out += [f"RUN echo {i} > /f{i}", f"COPY f{i % 10}.txt /d/", f"ENV STEP={i}", f"WORKDIR /w{i % 7}"]
        i += 1
    return "\n".join(out[:lines]) + "\n"


def cases(quick: bool) -> list[tuple[str, dict[str, str], list[str]]]:
    """(name, files, bake arguments)."""
    big = "a" * 10_000_000
    heredoc = ("a" * 99 + "\n") * 100_000
    lists = ", ".join(f"k{i} = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]" for i in range(6))
    out: list[tuple[str, dict[str, str], list[str]]] = [
        ("string 10 MB --print", {"docker-bake.hcl": f'target "default" {{\n  args = {{ X = "{big}" }}\n}}\n'}, ["--print"]),
        ("heredoc 10 MB --print", {"docker-bake.hcl": f'target "default" {{\n  args = {{ X = <<EOT\n{heredoc}EOT\n  }}\n}}\n'},
         ["--print"]),
        ("format %1000000000s", {"docker-bake.hcl": 'target "default" {\n  args = { X = format("%1000000000s", "a") }\n}\n'},
         ["--print"]),
        ("matrix 10^6 --print", {"docker-bake.hcl": f'target "default" {{\n  matrix = {{ {lists} }}\n'
                                 '  name = "t-${k0}${k1}${k2}${k3}${k4}${k5}"\n}\n'}, ["--print"]),
    ]
    for n in (20_000, 40_000) if quick else (20_000, 40_000, 100_000):
        files = {"Dockerfile": dockerfile(n), "docker-bake.hcl": 'target "default" {}\n'}
        out.append((f"dockerfile {n // 1000}k --call=check", files, ["--call=check"]))
        out.append((f"dockerfile {n // 1000}k --plan", files, ["--plan"]))
    return out


def run(files: dict[str, str], args: list[str]) -> tuple[float, float, str]:
    """(seconds, peak RSS in MB of the bake process, outcome) of one fresh `bake` process."""
    with tempfile.TemporaryDirectory() as tmp:
        for name, text in files.items():
            Path(tmp, name).write_text(text)
        env = {**os.environ, "BAKE_NO_PARSE_CACHE": "1", "BAKE_ROOT": os.path.join(tmp, "root")}
        with tempfile.TemporaryFile() as err:
            start = time.perf_counter()
            proc = subprocess.Popen([sys.executable, "-m", "bake", *args], cwd=tmp, env=env,
                                    stdout=subprocess.DEVNULL, stderr=err)
            _, status, usage = os.wait4(proc.pid, 0)  # this child's own peak RSS
            elapsed = time.perf_counter() - start
            proc.returncode = os.waitstatus_to_exitcode(status)
            err.seek(0)
            lines = err.read().decode(errors="replace").strip().splitlines()
        outcome = "ok" if proc.returncode == 0 else "error: " + (lines[-1][:90] if lines else "?")
        return elapsed, usage.ru_maxrss / 1024, outcome


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="skip the 100k-line Dockerfile")
    args = parser.parse_args()
    print(f"{'case':<30} {'before s':>9} {'after s':>8} {'ratio':>7} {'before MB':>10} {'after MB':>9}  outcome")
    for name, files, argv in cases(args.quick):
        seconds, mb, outcome = run(files, argv)
        b_s, b_mb, b_out = BEFORE[name]
        print(f"{name:<30} {b_s:9.2f} {seconds:8.2f} {b_s / seconds:6.1f}x {b_mb:10.0f} {mb:9.0f}  {outcome}"
              f"  (before: {b_out})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
