"""Build secrets for RUN steps: read from files or environment variables, handed to one process
only — as a read-only file on tmpfs or as an environment variable — and never part of a layer,
a config or a log. Mount points the runtime creates for them are reported as stubs by the executor.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Mapping, Sequence

from bake.graph.ops import Mount as GraphMount
from bake.model import SecretEntry
from bake.worker.errors import SecretError
from bake.worker.execution import Mount


class Secrets:
    """The secrets a build may use (bake's ``secret`` entries), resolved lazily."""

    def __init__(self, entries: Sequence[SecretEntry], env: Mapping[str, str], cwd: str = ".",
                 scratch: str | None = None) -> None:
        self.entries = {e.id: e for e in entries}
        self.env = env
        self.cwd = cwd
        base = scratch or ("/dev/shm" if os.path.isdir("/dev/shm") else None)  # tmpfs: never on disk
        self.dir = tempfile.mkdtemp(prefix="bake-secrets-", dir=base)
        os.chmod(self.dir, 0o700)

    def value(self, sid: str) -> bytes | None:
        """buildx's rules: ``env=`` reads a variable, ``src=`` a file; an id alone tries the
        variable named like the id, then a file of that name."""
        e = self.entries.get(sid)
        if e is None:
            return None
        if e.env:
            v = self.env.get(e.env)
            return v.encode() if v is not None else None
        path = e.src or (None if sid in self.env else sid)
        if path is None:
            return self.env[sid].encode()
        full = path if os.path.isabs(path) else os.path.join(self.cwd, path)
        try:
            with open(full, "rb") as f:
                return f.read()
        except OSError:
            return None

    def realize(self, mount: GraphMount) -> tuple[Mount | None, dict[str, str]]:
        """An executor mount (or environment variable) for a secret mount of the graph."""
        data = self.value(mount.secret_id)
        if data is None:
            if mount.required:
                raise SecretError(f"secret {mount.secret_id}: not found")
            return None, {}
        if mount.env:
            return (None, {mount.env: data.decode()}) if not mount.target else (self._file(mount, data), {mount.env: data.decode()})
        return self._file(mount, data), {}

    def _file(self, mount: GraphMount, data: bytes) -> Mount:
        fd, path = tempfile.mkstemp(dir=self.dir)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(path, mount.mode if mount.mode is not None else 0o400)
        if os.geteuid() == 0:
            os.chown(path, mount.uid or 0, mount.gid or 0)
        return Mount(mount.target, path, readonly=True)

    def close(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)
