"""The small project that docker_driver.py and remote_speed.py build on two builders each, and
the timing of one bake run: not a benchmark itself.

Two targets share a base stage on busybox (a cache-busting SALT, a RUN), a local context of 50
files with a .dockerignore is copied in, then each target has a RUN of its own.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path


def write_project(d: Path, base: str, salt: str, output: str, tags: str = "") -> None:
    """Write ctx/ and docker-bake.hcl into ``d``; ``output`` is one output spec where NAME stands
    for the target's name, ``tags`` an HCL list body for target a (empty: no tags)."""
    (d / "ctx").mkdir(exist_ok=True)
    for i in range(50):
        (d / "ctx" / f"f{i}.txt").write_text(f"file {i}\n" * 100)
    (d / "ctx" / ".dockerignore").write_text("*.log\n")
    (d / "docker-bake.hcl").write_text(f'''
group "default" {{ targets = ["a", "b"] }}
target "base" {{
  context = "ctx"
  args = {{ SALT = "{salt}" }}
  dockerfile-inline = <<EOT
FROM {base} AS shared
ARG SALT
RUN echo $SALT > /salt && for i in 1 2 3 4 5; do echo $i >> /n; done
COPY . /ctx/
FROM shared AS a
RUN cat /ctx/f1.txt /n > /a.txt
CMD ["cat", "/a.txt"]
FROM shared AS b
RUN cat /ctx/f2.txt /n > /b.txt
EOT
}}
target "a" {{
  inherits = ["base"]
  target = "a"
  tags = [{tags}]
  output = ["{output.replace("NAME", "a")}"]
}}
target "b" {{
  inherits = ["base"]
  target = "b"
  output = ["{output.replace("NAME", "b")}"]
}}
''')


def timed(d: Path, env: dict[str, str], builder: str, *args: str) -> float:
    """Seconds one ``bake --builder BUILDER ARGS`` took in ``d``; exits with its stderr if it failed."""
    t = time.perf_counter()
    r = subprocess.run([sys.executable, "-m", "bake", "--progress=quiet", "--builder", builder, *args], cwd=d,
                       env=env, capture_output=True, text=True)
    took = time.perf_counter() - t
    if r.returncode != 0:
        sys.exit(f"bake --builder {builder} {' '.join(args)} failed:\n{r.stderr}")
    return took
