"""Parsed bodies cached by content digest, like ``.pyc`` files, under bake's cache root: python-hcl2
and lark take ~0.3 s to import and ~0.1 s to load their grammar, more than a whole small
``bake --print`` may take, and a hit never imports them. An entry names the parser's code (any
edit of it is a miss); a damaged entry is a miss, parsed again and rewritten.
"""

from __future__ import annotations

import hashlib
import os
import pickle

from bake.hcl.engine import ast

FORMAT = b"bake-hcl-ast-5"
_CODE = ("parse.py", "tree.py", "template.py", "ast.py", "grammar.py")  # the modules that make a cached tree


def cache_dir() -> str | None:
    """Where entries live (also lark's grammar cache); None with ``BAKE_NO_PARSE_CACHE`` set."""
    if os.environ.get("BAKE_NO_PARSE_CACHE"):
        return None
    from bake.content.stateroot import StateRoot

    return StateRoot.locate(os.environ).parse


def _code_version() -> bytes:
    """Identifies the code that produced a cached tree: any edit of the parser invalidates the cache."""
    here = os.path.dirname(__file__)
    stamps = []
    for name in _CODE:
        st = os.stat(os.path.join(here, name))
        stamps.append(f"{name}:{st.st_size}:{st.st_mtime_ns}")
    return ";".join(stamps).encode()


def cache_path(text: str, file: str) -> str | None:
    """The entry of ``text`` read as ``file``; None when caching is off."""
    d = cache_dir()
    if d is None:
        return None
    h = hashlib.sha256(FORMAT)
    h.update(_code_version() + b"\0")
    h.update(file.encode("utf-8", "surrogateescape") + b"\0")
    h.update(text.encode("utf-8", "surrogateescape"))
    return os.path.join(d, h.hexdigest())


def load(path: str) -> ast.Body | None:
    """The body stored at ``path``; None when it is missing or is not one."""
    try:
        with open(path, "rb") as f:
            body: object = pickle.load(f)
    except Exception:  # a damaged pickle can raise anything: parse again and rewrite it
        return None
    return body if isinstance(body, ast.Body) else None


def store(path: str, body: ast.Body) -> None:
    """Write atomically (temp file, rename) so a concurrent reader never sees half a tree."""
    from bake.content.atomic import temp_name

    try:
        os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
        tmp = temp_name(path)  # names its writer: the next build sweeps it if this one is killed
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
        try:
            with os.fdopen(fd, "wb") as f:
                pickle.dump(body, f, protocol=pickle.HIGHEST_PROTOCOL)
            os.replace(tmp, path)
        except BaseException:
            os.unlink(tmp)
            raise
    except OSError:
        pass  # the cache is an optimisation only
