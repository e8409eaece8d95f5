"""A stand-in OCI runtime for unit tests: a script answering ``<runtime> --root R <command> …`` as
runc's command line does, without a container. Every call is appended to ``calls.jsonl`` beside it.

``run --bundle B id`` reads ``B/config.json`` and acts as runc does to the rootfs: creates each
missing mount point (an empty file for a file bind, else a directory); then it performs the
``script`` (writes files into the rootfs, prints to stdout and stderr, waits to be killed) and exits
with ``exit_code``. ``list`` answers ``containers``.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

_SCRIPT = '''#!{python}
import json, os, sys, time
args = sys.argv[1:]
here = os.path.dirname(os.path.abspath(__file__))
with open(os.path.join(here, "calls.jsonl"), "a") as log:
    log.write(json.dumps(args) + "\\n")
spec = {spec}
command = args[2]
if command == "list":
    sys.stdout.write(json.dumps(spec["containers"]))
    sys.exit(0)
if command != "run":
    sys.exit(0)
bundle = args[4]
with open(os.path.join(bundle, "config.json")) as f:
    config = json.load(f)
with open(os.path.join(here, "configs.jsonl"), "a") as log:
    log.write(json.dumps(config) + "\\n")
root = config["root"]["path"]
for m in config["mounts"]:
    dest = root + m["destination"]
    if os.path.lexists(dest):
        continue
    if m["type"] == "bind" and os.path.isfile(m["source"]):
        os.makedirs(os.path.dirname(dest), exist_ok=True)
        open(dest, "w").close()
    else:
        os.makedirs(dest)
for path, text in spec["writes"].items():
    with open(root + path, "w") as f:
        f.write(text)
sys.stdout.write(spec["stdout"])
sys.stdout.flush()
sys.stderr.write(spec["stderr"])
sys.stderr.flush()
if spec["hang"]:
    time.sleep(60)
sys.exit(spec["exit_code"])
'''


class FakeRuntime:
    def __init__(self, directory: Path, *, stdout: str = "", stderr: str = "", exit_code: int = 0,
                 writes: dict[str, str] | None = None, hang: bool = False,
                 containers: list[dict[str, str]] | None = None, name: str = "runc") -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.dir = directory
        self.path = str(directory / name)
        spec = {"stdout": stdout, "stderr": stderr, "exit_code": exit_code, "writes": writes or {},
                "hang": hang, "containers": containers or []}
        Path(self.path).write_text(_SCRIPT.format(python=sys.executable, spec=repr(spec)))
        os.chmod(self.path, 0o755)

    def calls(self) -> list[list[str]]:
        """Each call's arguments, in order."""
        return _lines(self.dir / "calls.jsonl")

    def commands(self) -> list[str]:
        """Each call's command word (``run``, ``kill``, ``delete``, ``list``)."""
        return [c[2] for c in self.calls()]

    def configs(self) -> list[dict[str, object]]:
        """The config.json of each ``run``."""
        return _lines(self.dir / "configs.jsonl")


def _lines(path: Path) -> list:  # type: ignore[type-arg]
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines()]
