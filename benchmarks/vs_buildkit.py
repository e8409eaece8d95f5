"""bake against BuildKit on small builds (issue 14), measured side by side in one run.

Each scenario is a small project (a bake file, a Dockerfile, a context) built cold (empty state)
and warm (the same build again, nothing changed) by bake and — when ``BUILDKIT_HOST`` names a
BuildKit daemon and ``docker-buildx`` (or ``buildx``) is on the PATH — by buildx with that daemon.
BuildKit's cold run follows ``buildctl prune --all``; bake's uses a fresh ``--root``. Both pull
``busybox`` from the same registry (default 127.0.0.1:5000, a ``docker.io`` mirror on both sides:
bake through a ``bake.toml``, BuildKit through its own buildkitd.toml). Every scenario writes a
``type=local`` output on both sides.

Printed: per scenario the median of ``--runs`` runs for each side, the ratio bake / BuildKit, and
the geometric means and worst ratios. Goals (issue 14): geomean cold ≤ 0.8×, warm ≤ 0.8×, worst
≤ 1.5×. Also printed: bake's time to its first step (process start → first ``started`` event).

Needs root, runc and busybox-static (scripts/setup.sh); for BuildKit: ``source /work/ref/env.sh``.

First full run (issue 14, 2 cores shared with other work: load average 8-14, so every figure is
inflated and noisy; the ratios are what to read), BuildKit v0.32.2 + buildx v0.36.1, runs 3:
15 small scenarios cold geomean 1.29x (worst multi-stage 4.86x: 0.96 vs 0.20 s), warm 0.61x
(worst multi-stage 2.39x: 0.25 vs 0.11 s); fan-out-100 cold 0.84x, warm 0.06x; --debian:
debian-app cold 3.73x, debian-apt 5.17x (the 94 MB layer's unpack: 36-50 s with this tree's
code), warm 0.10-0.12x. On the 14 scenarios the pre-issue code finished (its fan-out-100 failed:
'umount: target is busy'): cold geomean 1.44x -> 1.33x, warm 0.76x -> 0.72x. bake's time to its
first step: 0.52 s (busybox-run) and 0.42 s (scratch-copy) against a 0.15 s goal.

With the build server (bake.cli.server, session 5; load 2-16 from other work, runs 3): cold geomean
0.70x (worst fan-out-100 1.26x under load 16, 0.79x on its own), warm 0.23x (worst multi-stage
0.44x); scratch-copy 0.09 vs 0.12 s cold, 0.04 vs 0.10 s warm; --debian: debian-app 0.75x,
debian-apt 0.78x cold, 0.02x warm; time to the first step 0.041-0.064 s (scratch-copy), 0.09 s
(busybox-run). --large on a quiet machine: fan-out-100 0.55x cold (6.26 vs 11.35 s), 0.03x warm;
BuildKit failed fan-out-200 (buildx crashed) and fan-out-400 ("no active session ... context deadline
exceeded", three runs) where bake built them: 16.1 s / 0.58 s and 23.6 s / 1.1 s (cold / warm).

Run: .venv/bin/python benchmarks/vs_buildkit.py [--runs N] [--only NAME,...] [--no-buildkit] [--no-server]
     [--large] [--debian]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BAKE = [sys.executable, "-m", "bake"]
Files = dict[str, str | bytes]


def target(name: str, extra: str = "", dockerfile: str = "Dockerfile") -> str:
    return (f'target "{name}" {{\n  dockerfile = "{dockerfile}"\n  output = ["type=local,dest=out/{name}"]\n'
            f"{extra}}}\n")


def single(dockerfile: str, extra: str = "", files: Files | None = None) -> Files:
    return {"Dockerfile": dockerfile, "docker-bake.hcl": target("default", extra), **(files or {})}


def many_files(n: int, size: int) -> Files:
    return {f"src/d{i % 20:02d}/f{i:05d}.txt": (f"file {i}\n" * (size // 8 + 1))[:size] for i in range(n)}


def fan_out(n: int) -> Files:
    names = [f"t{i:03d}" for i in range(n)]
    hcl = 'group "default" {\n  targets = [' + ", ".join(f'"{t}"' for t in names) + "]\n}\n"
    hcl += "".join(target(t, f'  args = {{ N = "{i}" }}\n') for i, t in enumerate(names))
    dockerfile = "FROM busybox AS base\nRUN echo shared > /shared\nFROM base\nARG N\nRUN echo $N > /n\n"
    return {"Dockerfile": dockerfile, "docker-bake.hcl": hcl}


MATRIX_HCL = """group "default" {
  targets = ["app"]
}
target "app" {
  name = "app-${flavour}-${level}"
  matrix = {
    flavour = ["alpha", "beta", "gamma"]
    level = ["1", "2"]
  }
  args = { FLAVOUR = flavour, LEVEL = level }
  output = ["type=local,dest=out/app-${flavour}-${level}"]
}
"""

PROJECT_DOCKERFILE = """FROM busybox AS deps
WORKDIR /app
COPY requirements.txt .
RUN --mount=type=cache,target=/root/.cache \\
    mkdir -p /opt/venv && while read -r pkg; do \\
      mkdir -p /opt/venv/$pkg && echo "$pkg" > /opt/venv/$pkg/METADATA; done < requirements.txt

FROM deps AS build
COPY src/ src/
RUN find src -type f | sort | xargs cat | md5sum > /app/build.sum && mkdir -p dist && cp -r src dist/

FROM build AS test
RUN test -s /app/build.sum && ls /opt/venv | wc -l > /app/tests.txt

FROM busybox AS runtime
COPY --from=deps /opt/venv /opt/venv
COPY --from=build /app/dist /app
COPY --from=test /app/tests.txt /app/tests.txt
ENV PATH=/opt/venv/bin:$PATH
USER 1000
CMD ["/bin/sh"]
"""

# name → (project files, what it shows)
SCENARIOS: dict[str, tuple[Callable[[], Files], str]] = {
    "scratch-copy": (lambda: single("FROM scratch\nCOPY a.txt b.txt /\n", files={"a.txt": "a\n", "b.txt": "b\n"}),
                     "FROM scratch + COPY of two files"),
    "busybox-run": (lambda: single("FROM busybox\nRUN echo hello > /hello\n"), "one RUN on busybox"),
    "run-chain": (lambda: single("FROM busybox\n" + "".join(f"RUN echo {i} >> /log\n" for i in range(8))),
                  "8 RUNs in a row"),
    "multi-stage": (lambda: single("FROM busybox AS build\nRUN echo built > /artifact\n"
                                   "FROM scratch\nCOPY --from=build /artifact /artifact\n"),
                    "build stage, result copied into scratch"),
    "parallel-stages": (lambda: single("".join(f"FROM busybox AS s{i}\nRUN echo {i} > /r{i}\n" for i in range(4))
                                       + "FROM scratch\n" + "".join(f"COPY --from=s{i} /r{i} /\n" for i in range(4))),
                        "4 independent stages merged"),
    "cache-mount": (lambda: single("FROM busybox\nRUN --mount=type=cache,target=/cache "
                                   "echo x >> /cache/hits && wc -l < /cache/hits > /hits\n"),
                    "RUN with a cache mount"),
    "secret-mount": (lambda: single("FROM busybox\nRUN --mount=type=secret,id=token "
                                    "test -s /run/secrets/token && echo ok > /ok\n",
                                    '  secret = ["id=token,src=token.txt"]\n', {"token.txt": "s3cr3t\n"}),
                     "RUN with a secret mount"),
    "bind-from": (lambda: single("FROM busybox AS tools\nRUN echo tool > /tool\n"
                                 "FROM busybox\nRUN --mount=type=bind,from=tools,source=/tool,target=/t cp /t /copied\n"),
                  "RUN with a bind mount from another stage"),
    "heredocs": (lambda: single("FROM busybox\nCOPY <<EOF /etc/app.conf\n"
                                "key=value\nother=1\nEOF\nRUN <<EOF\nset -e\nmkdir -p /data\n"
                                "cat /etc/app.conf > /data/conf\necho done >> /data/conf\nEOF\n"),
                 "COPY and RUN heredocs"),
    "copy-many": (lambda: single("FROM scratch\nCOPY src/ /src/\n", files=many_files(2000, 200)),
                  "COPY of 2,000 small files"),
    "copy-large": (lambda: single("FROM scratch\nCOPY big/ /big/\n",
                                  files={f"big/blob{i}.bin": os.urandom(8 << 20) for i in range(4)}),
                   "COPY of 4 × 8 MiB"),
    "metadata": (lambda: single("FROM busybox\nARG VERSION=1.0\nENV APP_VERSION=$VERSION HOME=/home/app\n"
                                "WORKDIR /home/app\nRUN echo $APP_VERSION > version\nUSER 1000:1000\n"
                                'LABEL org.example.v="1"\nEXPOSE 8080\nCMD ["cat", "version"]\n'),
                 "ARG/ENV/WORKDIR/USER/LABEL around a RUN"),
    "matrix": (lambda: {"Dockerfile": "FROM busybox\nARG FLAVOUR\nARG LEVEL\nRUN echo $FLAVOUR-$LEVEL > /v\n",
                        "docker-bake.hcl": MATRIX_HCL}, "a 3 × 2 matrix target"),
    "project": (lambda: {"Dockerfile": PROJECT_DOCKERFILE, "docker-bake.hcl": target("default", '  target = "runtime"\n'),
                         "requirements.txt": "".join(f"pkg{i}\n" for i in range(40)),
                         **{f"src/m{i}.py": f"def f{i}():\n    return {i}\n" for i in range(60)}},
                "a pip-like project: deps with a cache mount, build, test, runtime"),
    "fan-out-100": (lambda: fan_out(100), "100 targets on one shared stage"),
}
# --large (BuildKit's warm rebuild of 400 targets takes over a minute): run with --runs 1
LARGE_SCENARIOS: dict[str, tuple[Callable[[], Files], str]] = {
    "fan-out-200": (lambda: fan_out(200), "200 targets on one shared stage"),
    "fan-out-400": (lambda: fan_out(400), "400 targets on one shared stage (BuildKit failed here: a session deadline)"),
}


# --debian: realistic projects on a Debian base made here with debootstrap from Debian's mirror,
# pushed to the mirror registry once (bake builds and pushes it) and pulled by both sides.
DEBIAN_CACHE = Path("/var/tmp/bake-bench")
DEBIAN_MIRROR = "http://deb.debian.org/debian"
DEBIAN_REPO = "bench/debian:bookworm"

DEBIAN_SCENARIOS: dict[str, tuple[Callable[[str], Files], str]] = {
    "debian-app": (lambda image: {
        "Dockerfile": f"FROM {image}\nRUN useradd --create-home app && mkdir -p /app\nWORKDIR /app\n"
                      "COPY src/ src/\nRUN find src -name '*.py' | sort | xargs cat | sha256sum > build.sum "
                      "&& chown -R app /app\nUSER app\nCMD [\"bash\"]\n",
        "docker-bake.hcl": target("default"),
        **{f"src/pkg{i // 20}/m{i}.py": f"def f{i}():\n    return {i}\n" for i in range(200)}},
        "Debian base (~75 MB pulled and unpacked), users, COPY, RUN"),
    "debian-apt": (lambda image: {
        "Dockerfile": f"FROM {image}\nRUN apt-get update -qq && apt-get install -y -qq --no-install-recommends make "
                      ">/dev/null && rm -rf /var/lib/apt/lists/*\nWORKDIR /src\nCOPY Makefile .\nRUN make\n",
        "docker-bake.hcl": target("default"),
        "Makefile": "all:\n\techo built > /src/out.txt\n"},
        "Debian base, apt-get install from Debian's mirror (network), make"),
}


def debian_image(work: Path, mirror: str, bake: Bake) -> str:
    """The Debian base in the mirror registry (made and pushed on first use; the rootfs and its tar
    are kept in DEBIAN_CACHE between runs)."""
    rootfs, tar = DEBIAN_CACHE / "debian-rootfs", DEBIAN_CACHE / "debian.tar"
    if not (rootfs / "usr" / "bin" / "apt-get").exists():
        print(f"debootstrap --variant=minbase bookworm from {DEBIAN_MIRROR} (once) …", flush=True)
        subprocess.run(["debootstrap", "--variant=minbase", "bookworm", str(rootfs), DEBIAN_MIRROR], check=True,
                       capture_output=True)
    if not tar.exists():
        subprocess.run(["tar", "-C", str(rootfs), "--numeric-owner", "-cf", f"{tar}.tmp", "."], check=True)
        os.replace(f"{tar}.tmp", tar)
    d = work / "debian-image"
    d.mkdir()
    os.link(tar, d / "debian.tar")
    image = f"{mirror}/{DEBIAN_REPO}"
    write_project(d, {"Dockerfile": 'FROM scratch\nADD debian.tar /\nCMD ["bash"]\n',
                      "docker-bake.hcl": f'target "default" {{\n  output = ["type=image,name={image},push=true"]\n}}\n'})
    bake.cold(d)
    return image


def write_project(d: Path, files: Files) -> None:
    for rel, content in files.items():
        p = d / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            p.write_bytes(content)
        else:
            p.write_text(content)


def reachable(host: str) -> bool:
    with contextlib.suppress(OSError):
        urllib.request.urlopen(f"http://{host}/v2/", timeout=2)
        return True
    return False


@contextlib.contextmanager
def own_registry(work: Path) -> Iterator[str]:
    sys.path.insert(0, str(Path(__file__).parent))
    from build_speed import registry

    with registry(work) as host:
        yield host


class Failed(Exception):
    """A build of a scenario failed: reported in its row, the other scenarios still run."""


class Bake:
    name = "bake"

    def __init__(self, work: Path, mirror: str, server: bool = True) -> None:
        self.work, self.server = work, server
        config = work / "bake.toml"
        config.write_text(f'[registry."docker.io"]\nmirrors = ["{mirror}"]\n')
        # bake builds with its own worker here, not with the builder buildx is pointed at
        self.env = {k: v for k, v in os.environ.items() if k not in ("BUILDX_BUILDER", "BUILDKIT_HOST")}
        self.env["BAKE_CONFIG"] = str(config)
        # as installed: byte-compiled modules are written once and reused, not compiled on every start
        self.env.pop("PYTHONDONTWRITEBYTECODE", None)
        # the build server (bake.cli.server), in a directory of this run, stopped at the end
        self.env["BAKE_SERVER_DIR"] = str(work / "servers")
        self.env["BAKE_SERVER"] = "on" if server else "off"
        self.n = 0

    def ready(self, d: Path) -> None:
        """With the server: one is running for the code as it is now (an edit elsewhere in the tree
        changes the fingerprint), started by an untimed command, as a user's earlier build would."""
        if not self.server:
            return
        digest = subprocess.run([sys.executable, "-c", "from bake.cli import client; "
                                 "print(client.digest(client.fingerprint()))"], env=self.env, cwd=d,
                                check=True, capture_output=True, text=True).stdout.strip()
        socket = self.work / "servers" / f"{digest}.sock"
        if not socket.exists():
            subprocess.run([*BAKE, "--list=targets"], cwd=d, env=self.env, capture_output=True)
        deadline = time.monotonic() + 30
        while not socket.exists() and time.monotonic() < deadline:
            time.sleep(0.05)

    def stop(self) -> None:
        for sock in (self.work / "servers").glob("*.sock"):
            sock.unlink()  # its server notices within seconds and exits

    def cold(self, d: Path) -> float:
        self.n += 1
        self.root = self.work / f"bake-root-{self.n}"
        shutil.rmtree(d / "out", ignore_errors=True)
        return self._run(d)

    def warm(self, d: Path) -> float:
        return self._run(d)

    def _run(self, d: Path) -> float:
        self.ready(d)
        t0 = time.perf_counter()
        proc = subprocess.run([*BAKE, "--progress=quiet", "--root", str(self.root)], cwd=d, env=self.env,
                              capture_output=True, text=True)
        if proc.returncode:
            raise Failed(f"bake failed in {d}: {proc.stderr.strip().splitlines()[-1:]}")
        return time.perf_counter() - t0

    def first_step(self, d: Path) -> tuple[float, float]:
        """Seconds from launch to the first step started, and to the first RUN or COPY started."""
        self.n += 1
        self.ready(d)
        t0 = time.time()
        proc = subprocess.run([*BAKE, "--progress=rawjson", "--root", str(self.work / f"bake-root-{self.n}")],
                              cwd=d, env=self.env, check=True, capture_output=True, text=True)
        started = [json.loads(line) for line in proc.stderr.splitlines() + proc.stdout.splitlines()
                   if line.startswith("{") and '"event":"started"' in line.replace(" ", "")]
        first = min(e["at"] for e in started) - t0
        work = min(e["at"] for e in started if any(k in e["step"]["name"] for k in (" RUN ", " COPY "))) - t0
        return first, work


class BuildKit:
    name = "BuildKit"

    def __init__(self, buildx: str) -> None:
        self.buildx = buildx

    def cold(self, d: Path) -> float:
        subprocess.run(["buildctl", "prune", "--all"], check=True, capture_output=True)
        shutil.rmtree(d / "out", ignore_errors=True)
        return self.warm(d)

    def warm(self, d: Path) -> float:
        t0 = time.perf_counter()
        proc = subprocess.run([self.buildx, "bake", "--progress=quiet"], cwd=d, capture_output=True, text=True)
        if proc.returncode:
            raise Failed(f"buildx failed in {d}: {proc.stderr.strip().splitlines()[-1:]}")
        return time.perf_counter() - t0


def geomean(xs: list[float]) -> float:
    return math.exp(sum(math.log(x) for x in xs) / len(xs))


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3, help="runs per scenario and side (median)")
    ap.add_argument("--only", default="", help="comma-separated scenario names")
    ap.add_argument("--registry", default="127.0.0.1:5000", help="docker.io mirror serving busybox")
    ap.add_argument("--no-buildkit", action="store_true")
    ap.add_argument("--debian", action="store_true", help="also the realistic projects on a Debian base (slow)")
    ap.add_argument("--large", action="store_true", help="also the 400-target fan-out (slow on BuildKit's side)")
    ap.add_argument("--no-server", action="store_true", help="every bake in a process of its own (BAKE_SERVER=off)")
    args = ap.parse_args()
    if os.geteuid() != 0 or shutil.which("runc") is None:
        print("needs root and runc (bash scripts/setup.sh)")
        return 1
    scenarios = {**SCENARIOS, **LARGE_SCENARIOS}
    names = [n for n in [*SCENARIOS, *(LARGE_SCENARIOS if args.large else ()), *(DEBIAN_SCENARIOS if args.debian else ())]
             if not args.only or n in args.only.split(",")]
    buildx = shutil.which("docker-buildx") or shutil.which("buildx")
    with_bk = not args.no_buildkit and bool(os.environ.get("BUILDKIT_HOST")) and buildx is not None
    with tempfile.TemporaryDirectory(prefix="bake-vs-bk-") as tmp, contextlib.ExitStack() as stack:
        work = Path(tmp)
        mirror = args.registry
        if not reachable(mirror):
            if with_bk:
                print(f"BuildKit's docker.io mirror {mirror} is unreachable")
                return 1
            mirror = stack.enter_context(own_registry(work))
        bake_side = Bake(work, mirror, server=not args.no_server)
        stack.callback(bake_side.stop)
        sides: list[Bake | BuildKit] = [bake_side]
        if with_bk:
            assert buildx is not None
            sides.append(BuildKit(buildx))
        else:
            print("(no BuildKit: set BUILDKIT_HOST and put docker-buildx on the PATH; bake alone)")
        print(f"{len(names)} scenarios, median of {args.runs} runs each, seconds; bake "
              f"{'without' if args.no_server else 'with'} its build server\n")
        head = f"{'scenario':16s} {'bake cold':>9s} {'bake warm':>9s}"
        if with_bk:
            head += f" {'BK cold':>8s} {'BK warm':>8s} {'cold ×':>7s} {'warm ×':>7s}"
        print(head)
        ratios: dict[str, list[tuple[str, float]]] = {"cold": [], "warm": []}
        for name in names:
            if name in DEBIAN_SCENARIOS and name not in scenarios:
                first = sides[0]
                assert isinstance(first, Bake)
                image = debian_image(work, mirror, first)
                for debian_name, (make_debian, what) in DEBIAN_SCENARIOS.items():
                    scenarios[debian_name] = (lambda m=make_debian, i=image: m(i)), what  # type: ignore[misc]
            make, _ = scenarios[name]
            d = work / name
            write_project(d, make())
            figures: dict[str, tuple[float, float]] = {}
            try:
                times: dict[str, tuple[list[float], list[float]]] = {side.name: ([], []) for side in sides}
                for _ in range(args.runs):  # the sides take turns: a burst of load elsewhere hits both
                    for side in sides:
                        times[side.name][0].append(side.cold(d))
                        times[side.name][1].append(side.warm(d))
                figures = {k: (statistics.median(c), statistics.median(w)) for k, (c, w) in times.items()}
            except Failed as e:
                done = {k: (statistics.median(c), statistics.median(w)) for k, (c, w) in times.items() if c and w}
                bake_times = f" (bake: cold {done['bake'][0]:.2f} s, warm {done['bake'][1]:.2f} s)" if "bake" in done else ""
                print(f"{name:16s} FAILED: {e}{bake_times}", flush=True)
                continue
            bc, bw = figures["bake"]
            line = f"{name:16s} {bc:9.2f} {bw:9.2f}"
            if with_bk:
                kc, kw = figures["BuildKit"]
                ratios["cold"].append((name, bc / kc))
                ratios["warm"].append((name, bw / kw))
                line += f" {kc:8.2f} {kw:8.2f} {bc / kc:7.2f} {bw / kw:7.2f}"
            print(line, flush=True)
        if with_bk and ratios["cold"]:
            print()
            for kind, goal in (("cold", 0.8), ("warm", 0.8)):
                rs = ratios[kind]
                g = geomean([r for _, r in rs])
                worst = max(rs, key=lambda x: x[1])
                print(f"{kind}: geomean {g:.2f}× BuildKit (goal ≤ {goal}: {'met' if g <= goal else 'MISSED'}); "
                      f"worst {worst[1]:.2f}× ({worst[0]}; goal ≤ 1.5: {'met' if worst[1] <= 1.5 else 'MISSED'})")
        for name in ("busybox-run", "scratch-copy"):
            d = work / f"first-{name}"
            write_project(d, SCENARIOS[name][0]())
            firsts = [bake_side.first_step(d) for _ in range(max(args.runs, 3))]
            print(f"bake, time to first step ({name}, cold, median of {len(firsts)}): "
                  f"{statistics.median(f for f, _ in firsts):.3f} s; to its first RUN/COPY "
                  f"{statistics.median(w for _, w in firsts):.3f} s (goal ≤ 0.15 s to the first step)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
