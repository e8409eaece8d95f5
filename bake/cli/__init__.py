"""The ``bake`` command line, compatible with ``docker buildx bake``, built with typer.

``commands`` declares the command tree (parsing only: each command returns an action),
``build`` runs the root command (list, plan, print, call, build), ``maintenance`` the ``du``,
``prune`` and ``report`` commands, and ``render`` formats every error the user sees: only this
package prints an error and picks the exit code (1 for a ``BakeError``, 2 for a command line the
parser refused, 130 after Ctrl-C).

Start-up: a small ``bake --print`` has 0.15 s in all and typer's import is most of the CLI's
share, so nothing else is imported before the action that needs it runs.
"""

from __future__ import annotations

import os
import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = ["entry", "main", "run"]


def run(argv: Sequence[str]) -> int:
    """Parse ``argv`` and do what it asks; errors propagate (``main`` renders them)."""
    from bake.cli.commands import parse

    action = parse(list(argv))
    return action if isinstance(action, int) else action()


def main(argv: Sequence[str] | None = None) -> int:
    """The command line's exit code for ``argv`` (default: ``sys.argv[1:]``); never raises for a user's error."""
    import gc
    import signal

    from bake.cli.commands import CommandLineError
    from bake.cli.render import render_error, render_usage_error
    from bake.errors import BakeError, ungrouped

    # Deep but legitimate chains of variables and functions recurse; Python 3.11 frames are cheap.
    sys.setrecursionlimit(max(sys.getrecursionlimit(), 20000))
    # A short-lived process that builds no reference cycles worth collecting: the cyclic GC
    # only costs time here (about 10% of a large --print).
    gc.disable()
    signal.signal(signal.SIGTERM, _terminate)
    try:
        with ungrouped():
            return run(sys.argv[1:] if argv is None else argv)
    except BakeError as err:
        sys.stdout.flush()
        sys.stderr.write(render_error(err))
        return 1
    except CommandLineError as err:
        sys.stderr.write(render_usage_error(err.message, err.command_path))
        return err.exit_code
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0


def _terminate(signum: int, frame: object) -> None:
    """SIGTERM stops a build as Ctrl-C does: running containers are killed, mounts taken down, the
    scratch directory removed (SIGINT's handler is asyncio's own while a build runs). Where SIGINT
    is ignored — a background job of a shell without job control — asyncio installed none, so the
    interrupt is raised here; the event loop's shutdown then cancels and cleans up every task."""
    import signal

    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        raise KeyboardInterrupt
    os.kill(os.getpid(), signal.SIGINT)


def entry() -> None:
    """The ``bake`` command: ``main``, then an immediate exit. Interpreter teardown (a last garbage
    collection of a heap built with the collector off, module and thread cleanup) costs 0.1 s and
    does nothing a finished bake needs: every file it wrote is closed, the build's containers,
    mounts and scratch directory are gone by now.

    A build server (``bake.cli.server``) answers the command when one runs for this code and this
    environment: its imports are done, so the command starts at once. Without one, the command runs
    here and a server is started for the next (``BAKE_SERVER=off``: never)."""
    from bake.cli.client import forward

    code = forward(sys.argv)
    if code is None:
        code = main()
    for stream in (sys.stdout, sys.stderr):
        try:  # noqa: SIM105 (contextlib's import is a cost the client's path avoids)
            stream.flush()
        except (BrokenPipeError, ValueError):
            pass
    os._exit(code)
