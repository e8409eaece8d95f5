"""The worker's errors: one root, ``WorkerError``, under ``bake.errors.BakeError``. Each is raised
by the module named beside it::

    WorkerError
     ├── ExecError           execution, executor  the runtime could not start a process
     ├── FileOpError         fileops              a file action cannot be applied
     ├── NetworkError        network              the build's network namespace could not be set up
     ├── PatternError        dockerignore         a malformed .dockerignore pattern
     ├── PlatformError       platforms            a process for a platform cannot run on this host
     ├── RootlessError       userns               the host cannot give an ordinary user what building needs
     ├── SecretError         secrets              a required secret is not available
     ├── SnapshotError       snapshot             a snapshot operation failed
     ├── SourceError         remote, keys         a remote source cannot be fetched or does not match
     ├── SSHError            sshagents            an ssh id is missing or its keys cannot be loaded
     ├── UnsafeArchiveError  writes               an archive entry cannot be applied safely
     ├── UnsafePathError     inroot               a path inside a build's tree cannot be resolved safely
     ├── UnsupportedSource   keys                 a source the worker cannot read yet
     └── UserError           users                a user or group the image does not know
"""

from __future__ import annotations

from bake.errors import BakeError


class WorkerError(BakeError):
    """Root of the errors the embedded worker raises."""


class ExecError(WorkerError):
    """The runtime could not start the process (not: the process failed)."""


class FileOpError(WorkerError):
    """A file action cannot be applied (missing source, bad mode, …)."""


class NetworkError(WorkerError):
    """The build's network namespace could not be set up."""


class PatternError(WorkerError):
    """A malformed pattern (``[`` without ``]``, a trailing ``\\``)."""


class PlatformError(WorkerError):
    """A process for ``platform`` cannot run on this host."""

    def __init__(self, message: str, platform: str) -> None:
        super().__init__(message)
        self.platform = platform


class RootlessError(WorkerError):
    """This host cannot give an ordinary user what building needs; says what is missing and how to fix it."""


class SSHError(WorkerError):
    """An ssh id the build needs is not available, or its keys cannot be loaded."""


class SecretError(WorkerError):
    """A required secret is not available."""


class SnapshotError(WorkerError):
    """A snapshot operation failed (mount errors carry the kernel's message)."""


class SourceError(WorkerError):
    """A remote source could not be fetched or did not match its checksum."""


class UnsafeArchiveError(WorkerError):
    """An archive or layer entry cannot be applied: it would escape the root, is not allowed
    here, or conflicts with what is there (a file where a directory is needed)."""


class UnsafePathError(WorkerError):
    """A path inside a build's filesystem cannot be resolved safely (a link loop, …)."""


class UnsupportedSource(WorkerError):
    """A source the worker cannot read yet."""


class UserError(WorkerError):
    """A user or group name that the image's passwd/group files do not know."""
