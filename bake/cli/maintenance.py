"""``bake du``, ``bake prune``, ``bake report``, ``bake explain`` and ``bake builders``: the commands beside the build."""

from __future__ import annotations

import os
import sys


def du(root: str | None) -> int:
    """What the cache under the bake root holds."""
    from bake.app import rootless
    from bake.app.build import state_root

    root = os.path.abspath(root or state_root(os.environ))
    u = rootless.run("prune:usage", (root,))  # snapshots hold files of other ids: read them as the build does
    rows = [("cache entries", str(u.entries)), ("snapshots", f"{u.snapshots} ({_bytes(u.snapshot_bytes)})"),
            ("reclaimable", _bytes(u.reclaimable_bytes)), ("image blobs", _bytes(u.content_bytes)),
            ("stored images", str(u.images)),
            ("cache mounts", _bytes(u.cachemount_bytes))]
    sys.stdout.write("".join(f"{k + ':':15s}{v}\n" for k, v in rows))
    return 0


def prune(root: str | None, filters: tuple[str, ...], keep_storage: str | None, everything: bool) -> int:
    """As buildx's prune: no flags removes all build cache not in use but keeps the unpacked base
    images; ``--filter until=DURATION`` / ``--keep-storage`` remove only the old or the excess;
    ``everything`` (``-a``) removes all of it, base images and the blobs no stored image uses too."""
    from bake.app import rootless
    from bake.app.build import state_root
    from bake.app.prune import parse_duration, parse_size
    from bake.errors import UsageError

    root = os.path.abspath(root or state_root(os.environ))
    until = None
    for f in filters:
        key, _, value = f.partition("=")
        if key != "until":
            raise UsageError(f"unsupported prune filter {f!r} (supported: until=DURATION)")
        until = parse_duration(value)
    plain = not filters and keep_storage is None and not everything
    if everything or plain:
        until = -1.0
    done = rootless.run("prune:prune", (root, until, parse_size(keep_storage) if keep_storage else None, None,
                                        plain, everything))
    sys.stdout.write(f"Removed {done.entries} cache entries and {done.snapshots} snapshots\n"
                     f"Total:\t{_bytes(done.bytes)}\n")
    return 0


def report(events: str, output: str) -> int:
    """The HTML report of a ``--progress=rawjson`` log."""
    from bake.report import convert

    run = convert(events, output)
    sys.stderr.write(f"wrote {output}: {len(run.steps)} steps, {len(run.lanes)} targets\n")
    return 0


def explain(root: str | None, targets: tuple[str, ...]) -> int:
    """The reasons recorded for the last build of each target (``--explain`` shows them as it runs)."""
    from bake.app.build import state_root
    from bake.app.explain import last_run

    lines = last_run(os.path.abspath(root or state_root(os.environ)), targets)
    sys.stdout.write("".join(f"{line}\n" for line in lines) or "no build recorded on this root\n")
    return 0


def builders() -> int:
    """Every builder (the embedded worker, buildx's store) with its nodes, status and platforms."""
    import anyio

    from bake.buildkit.listing import statuses, table
    from bake.model import local_platform

    found = anyio.run(statuses, dict(os.environ), local_platform())
    sys.stdout.write(table(found))
    return 0


def _bytes(n: float) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f}{unit}" if unit == "B" else f"{n:.2f}{unit}"
        n /= 1000
    return f"{n}B"
