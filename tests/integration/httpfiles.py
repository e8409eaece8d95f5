"""A directory served over plain HTTP on 127.0.0.1 for ``ADD <url>`` and dumb-HTTP git tests (the
remote builder's daemon shares the host network, so it reaches the same address)."""

from __future__ import annotations

import contextlib
import functools
import http.server
import threading
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def served(directory: Path) -> Iterator[str]:
    """Serve ``directory`` while the block runs; yields its base URL (``http://127.0.0.1:PORT``)."""
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(directory))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
