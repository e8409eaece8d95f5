"""The OCI distribution client: references, auth, pulls and pushes over httpx."""

import sys

# httpx's package __init__ imports its command-line tool (``httpx._main``: click, rich, pygments,
# ~40 ms) only to export ``main``, which bake never calls; a ``None`` entry makes that import fail
# and httpx falls back to a stub, as it does where the CLI extras are not installed.
sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]
