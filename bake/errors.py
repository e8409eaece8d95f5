"""The one exception tree of bake. Errors carry structured fields; only the CLI renders them.

::

    BakeError
     ├── DefinitionError      a bake file (HCL, JSON, compose) is wrong: range, summary, detail
     │    └── ValidationError a variable's validation block failed
     ├── DockerfileError      a Dockerfile is wrong: file, line, column, the line's text
     ├── UsageError           the command line is wrong (flags, --set, unknown targets)
     ├── StepError            a build step failed: the step, the targets needing it, its last output
     ├── BuildFailed          several targets failed (keep-going): each one with its error
     └── a layer's own errors, each in one place per layer:
          WorkerError (bake.worker.errors), BuilderError (bake.buildkit), RegistryError, AuthError,
          ConfigError, InvalidReference, DownloadError (bake.registry), ContentError, NoSpaceError,
          LayoutError (bake.content), ExportError (bake.exporter), CancelledError (bake.solver),
          ExpansionError (bake.dockerfile.shell), ReportError (bake.report)
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from bake._record import record


@record
class SourceRange:
    """A span in a bake file; lines and columns count from 1, the end column is exclusive."""

    file: str
    line: int
    col: int
    end_line: int
    end_col: int

    def __str__(self) -> str:
        if self.end_line == self.line:
            return f"{self.file}:{self.line},{self.col}-{self.end_col}"
        return f"{self.file}:{self.line},{self.col}-{self.end_line},{self.end_col}"


class BakeError(Exception):
    """Root of every error bake raises on purpose."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class DefinitionError(BakeError):
    """A mistake in a bake definition, located in its source when the location is known.

    ``summary``/``detail`` follow HCL diagnostics (buildx prints ``Summary; Detail``);
    ``snippet`` holds the source lines around ``rng``, starting at line ``snippet_start``;
    the loader fills them in, since only it has the text.
    """

    def __init__(
        self,
        summary: str,
        detail: str = "",
        rng: SourceRange | None = None,
        snippet: tuple[str, ...] = (),
        snippet_start: int = 0,
    ) -> None:
        self.summary = summary
        self.detail = detail
        self.rng = rng
        self.snippet = snippet
        self.snippet_start = snippet_start
        text = f"{summary}; {detail}" if detail else summary
        super().__init__(f"{rng}: {text}" if rng else text)

    def located(self, rng: SourceRange | None) -> DefinitionError:
        """The same error at ``rng`` unless it already has a location."""
        if self.rng is not None or rng is None:
            return self
        return type(self)(self.summary, self.detail, rng, self.snippet, self.snippet_start)

    def with_snippet(self, snippet: tuple[str, ...], start: int) -> DefinitionError:
        return type(self)(self.summary, self.detail, self.rng, snippet, start)


class ValidationError(DefinitionError):
    """A variable ``validation`` block rejected the variable's value."""


class UsageError(BakeError):
    """The command line asks for something impossible (bad flag, unknown target, bad ``--set``)."""


class DockerfileError(BakeError):
    """A mistake in a Dockerfile, at ``file:line:col`` (1-based), with the offending line."""

    def __init__(self, message: str, file: str, line: int, col: int = 1, text: str = "") -> None:
        self.file = file
        self.line = line
        self.col = col
        self.text = text
        super().__init__(f"{file}:{line}:{col}: {message}")
        self.detail = message


class StepError(BakeError):
    """A build step failed. ``step`` is its progress name (``[stage 2/4] RUN make``), ``targets``
    the targets (and platforms) that needed it, ``output`` its last lines of output, ``exit_code``
    the process's status when a command failed. Raised once, at the failing step; the steps and
    targets that depended on it get the same error."""

    def __init__(self, step: str, reason: str, targets: tuple[str, ...] = (), output: tuple[str, ...] = (),
                 exit_code: int | None = None, source: str = "") -> None:
        self.step = step
        self.reason = reason
        self.targets = targets
        self.output = output
        self.exit_code = exit_code
        self.source = source  # "Dockerfile:12" or "Dockerfile:12-14" when known
        self.text = ""  # the Dockerfile's text when it is not a file (dockerfile-inline); set by the app
        super().__init__(f"failed to solve: {reason}")


class BuildFailed(BakeError):
    """Several targets failed (``--keep-going``): one error per failed target, in request order."""

    def __init__(self, failures: tuple[tuple[str, BakeError], ...]) -> None:
        self.failures = failures
        names = ", ".join(name for name, _ in failures)
        super().__init__(f"{len(failures)} target{'s' if len(failures) != 1 else ''} failed: {names}")


def leaves(err: BaseException) -> list[BaseException]:
    """The exceptions an exception group holds, however deeply nested, in order."""
    if isinstance(err, BaseExceptionGroup):
        return [leaf for inner in err.exceptions for leaf in leaves(inner)]
    return [err]


@contextlib.contextmanager
def ungrouped(prefer: type[BaseException] = StepError) -> Iterator[None]:
    """Task groups wrap what fails inside them in ``ExceptionGroup``s; at the API and CLI boundary
    the group becomes the error it stands for: its first ``BakeError`` (a ``prefer`` before others:
    a build step's error unless the caller names the kind that says which step failed), else its
    only exception. Anything else (a bug) keeps the group. The one place groups are unwrapped."""
    try:
        yield
    except BaseExceptionGroup as group:
        found = leaves(group)
        ours = [e for e in found if isinstance(e, BakeError)]
        chosen: BaseException | None = next((e for e in ours if isinstance(e, prefer)), ours[0] if ours else None)
        if chosen is None and len(found) == 1 and isinstance(found[0], Exception):
            chosen = found[0]
        if chosen is None:
            raise
        raise chosen from chosen.__cause__
